using System.Globalization;

namespace LlavaModal.Tokenizers.Chat.Jinja;

/// <summary>
/// Builds the syntax tree from the lexer's tokens with Jinja's grammar and operator precedence (lowest first):
/// <c>x if c else y</c>, <c>or</c>, <c>and</c>, <c>not</c>, comparisons and <c>in</c>, <c>+ -</c>, <c>~</c>,
/// <c>* / // %</c>, <c>**</c>, unary <c>- +</c>, then postfix <c>. [] ()</c>, filters <c>|</c> and tests <c>is</c>.
/// Statements: <c>if/elif/else</c>, <c>for/else</c> (with an inline <c>if</c> filter), <c>set</c> (also block form and
/// <c>ns.attr</c>), <c>macro</c>, <c>call</c>, <c>filter</c>, <c>break</c>/<c>continue</c>, and HF's
/// <c>generation</c> marker (rendered as its body). Anything else is a <see cref="JinjaException"/> at its position.
/// </summary>
sealed class JinjaParser
{
    static readonly HashSet<string> Unsupported = ["include", "import", "from", "extends", "block", "with", "autoescape", "do", "trans", "pluralize"];

    readonly List<Token> tokens;
    int index;

    JinjaParser(List<Token> tokens) => this.tokens = tokens;

    public static IReadOnlyList<Node> Parse(string source)
    {
        var parser = new JinjaParser(JinjaLexer.Tokenize(source));
        (List<Node> body, string? end) = parser.ParseBody([]);
        if (end is not null)
        {
            throw new JinjaException(parser.Current.Position, $"unexpected '{{% {end} %}}'");
        }

        return body;
    }

    Token Current => tokens[index];

    Token Next() => tokens[index++];

    bool IsOperator(string op) => Current.Is(TokenKind.Operator, op);

    bool IsName(string name) => Current.Is(TokenKind.Name, name);

    Token Expect(TokenKind kind, string? value = null)
    {
        Token token = Current;
        if (token.Kind != kind || (value is not null && token.Value != value))
        {
            string wanted = value ?? kind.ToString();
            throw new JinjaException(token.Position, $"expected '{wanted}' but found {Describe(token)}");
        }

        index++;
        return token;
    }

    static string Describe(Token token) => token.Kind switch
    {
        TokenKind.End => "the end of the template",
        TokenKind.BlockEnd or TokenKind.VariableEnd => $"'{token.Value}'",
        TokenKind.String => $"the string '{token.Value}'",
        _ => $"'{token.Value}'",
    };

    /// <summary>Parses statements until a block tag named in <paramref name="ends"/> (consumed up to its name) or the end.</summary>
    (List<Node> Body, string? End) ParseBody(string[] ends)
    {
        var body = new List<Node>();
        while (true)
        {
            Token token = Current;
            switch (token.Kind)
            {
                case TokenKind.End:
                    if (ends.Length > 0)
                    {
                        throw new JinjaException(token.Position, $"the template ended before '{{% {ends[^1]} %}}'");
                    }

                    return (body, null);
                case TokenKind.Text:
                    index++;
                    body.Add(new TextNode(token.Position, token.Value));
                    break;
                case TokenKind.VariableBegin:
                    index++;
                    body.Add(new OutputNode(token.Position, ParseExpression()));
                    Expect(TokenKind.VariableEnd);
                    break;
                case TokenKind.BlockBegin:
                    Token name = tokens[index + 1];
                    if (name.Kind == TokenKind.Name && ends.Contains(name.Value))
                    {
                        index += 2;
                        return (body, name.Value);
                    }

                    index++;
                    body.AddRange(ParseStatement());
                    break;
                default:
                    throw new JinjaException(token.Position, $"unexpected {Describe(token)}");
            }
        }
    }

    IEnumerable<Node> ParseStatement()
    {
        Token keyword = Expect(TokenKind.Name);
        switch (keyword.Value)
        {
            case "if":
                return [ParseIf(keyword.Position)];
            case "for":
                return [ParseFor(keyword.Position)];
            case "set":
                return [ParseSet(keyword.Position)];
            case "macro":
                return [ParseMacro(keyword.Position)];
            case "call":
                return [ParseCallBlock(keyword.Position)];
            case "filter":
                return [ParseFilterBlock(keyword.Position)];
            case "break" or "continue":
                Expect(TokenKind.BlockEnd);
                return [new LoopControlNode(keyword.Position, keyword.Value == "break")];
            case "generation":
            {
                // transformers' AssistantTracker marks assistant text; for rendering it is just its body.
                Expect(TokenKind.BlockEnd);
                (List<Node> body, _) = ParseBody(["endgeneration"]);
                Expect(TokenKind.BlockEnd);
                return body;
            }

            default:
                string problem = keyword.Value.StartsWith("end", StringComparison.Ordinal) || keyword.Value is "elif" or "else"
                    ? $"unexpected '{{% {keyword.Value} %}}' (nothing open here ends with it)"
                    : Unsupported.Contains(keyword.Value)
                    ? $"'{{% {keyword.Value} %}}' is not supported by this chat template renderer"
                    : $"unknown statement '{{% {keyword.Value} %}}'";
                throw new JinjaException(keyword.Position, problem);
        }
    }

    IfNode ParseIf(int position)
    {
        var branches = new List<(Expr, IReadOnlyList<Node>)>();
        Expr condition = ParseExpression();
        while (true)
        {
            Expect(TokenKind.BlockEnd);
            (List<Node> body, string? end) = ParseBody(["elif", "else", "endif"]);
            branches.Add((condition, body));
            if (end == "elif")
            {
                condition = ParseExpression();
                continue;
            }

            if (end == "else")
            {
                Expect(TokenKind.BlockEnd);
                (List<Node> otherwise, _) = ParseBody(["endif"]);
                Expect(TokenKind.BlockEnd);
                return new IfNode(position, branches, otherwise);
            }

            Expect(TokenKind.BlockEnd);
            return new IfNode(position, branches, null);
        }
    }

    ForNode ParseFor(int position)
    {
        List<string> targets = ParseTargets();
        Expect(TokenKind.Name, "in");
        Expr iterable = ParseExpression(allowConditional: false);
        Expr? filter = null;
        if (IsName("if"))
        {
            index++;
            filter = ParseExpression(allowConditional: false);
        }

        if (IsName("recursive"))
        {
            throw new JinjaException(Current.Position, "recursive loops are not supported by this chat template renderer");
        }

        Expect(TokenKind.BlockEnd);
        (List<Node> body, string? end) = ParseBody(["else", "endfor"]);
        List<Node>? otherwise = null;
        if (end == "else")
        {
            Expect(TokenKind.BlockEnd);
            (otherwise, _) = ParseBody(["endfor"]);
        }

        Expect(TokenKind.BlockEnd);
        return new ForNode(position, targets, iterable, filter, body, otherwise);
    }

    List<string> ParseTargets()
    {
        bool parenthesized = IsOperator("(");
        if (parenthesized)
        {
            index++;
        }

        var names = new List<string> { Expect(TokenKind.Name).Value };
        while (IsOperator(","))
        {
            index++;
            if (Current.Kind != TokenKind.Name)
            {
                break;
            }

            names.Add(Expect(TokenKind.Name).Value);
        }

        if (parenthesized)
        {
            Expect(TokenKind.Operator, ")");
        }

        return names;
    }

    SetNode ParseSet(int position)
    {
        string first = Expect(TokenKind.Name).Value;
        if (IsOperator("."))
        {
            index++;
            string attribute = Expect(TokenKind.Name).Value;
            Expect(TokenKind.Operator, "=");
            Expr value = ParseTupleOrExpression();
            Expect(TokenKind.BlockEnd);
            return new SetNode(position, [first], attribute, value, null);
        }

        var names = new List<string> { first };
        while (IsOperator(","))
        {
            index++;
            names.Add(Expect(TokenKind.Name).Value);
        }

        if (IsOperator("="))
        {
            index++;
            Expr value = ParseTupleOrExpression();
            Expect(TokenKind.BlockEnd);
            return new SetNode(position, names, null, value, null);
        }

        if (names.Count > 1)
        {
            throw new JinjaException(Current.Position, "a block set assigns one name");
        }

        if (IsOperator("|"))
        {
            throw new JinjaException(Current.Position, "filters on a block set are not supported by this chat template renderer");
        }

        Expect(TokenKind.BlockEnd);
        (List<Node> body, _) = ParseBody(["endset"]);
        Expect(TokenKind.BlockEnd);
        return new SetNode(position, names, null, null, body);
    }

    MacroNode ParseMacro(int position)
    {
        string name = Expect(TokenKind.Name).Value;
        List<(string, Expr?)> parameters = ParseParameters();
        Expect(TokenKind.BlockEnd);
        (List<Node> body, _) = ParseBody(["endmacro"]);
        Expect(TokenKind.BlockEnd);
        return new MacroNode(position, name, parameters, body);
    }

    List<(string Name, Expr? Default)> ParseParameters()
    {
        var parameters = new List<(string, Expr?)>();
        Expect(TokenKind.Operator, "(");
        while (!IsOperator(")"))
        {
            string name = Expect(TokenKind.Name).Value;
            Expr? fallback = null;
            if (IsOperator("="))
            {
                index++;
                fallback = ParseExpression();
            }

            parameters.Add((name, fallback));
            if (!IsOperator(","))
            {
                break;
            }

            index++;
        }

        Expect(TokenKind.Operator, ")");
        return parameters;
    }

    CallBlockNode ParseCallBlock(int position)
    {
        List<(string, Expr?)> callerParameters = IsOperator("(") ? ParseParameters() : [];
        Expr call = ParseExpression();
        if (call is not CallExpr callExpr)
        {
            throw new JinjaException(call.Position, "'{% call %}' needs a macro call");
        }

        Expect(TokenKind.BlockEnd);
        (List<Node> body, _) = ParseBody(["endcall"]);
        Expect(TokenKind.BlockEnd);
        return new CallBlockNode(position, callExpr, callerParameters, body);
    }

    FilterBlockNode ParseFilterBlock(int position)
    {
        FilterExpr filter = ParseFilter(null);
        Expect(TokenKind.BlockEnd);
        (List<Node> body, _) = ParseBody(["endfilter"]);
        Expect(TokenKind.BlockEnd);
        return new FilterBlockNode(position, filter, body);
    }

    /// <summary>An expression, or several separated by commas as a tuple (<c>set a, b = 1, 2</c>).</summary>
    Expr ParseTupleOrExpression()
    {
        Expr first = ParseExpression();
        if (!IsOperator(","))
        {
            return first;
        }

        var items = new List<Expr> { first };
        while (IsOperator(","))
        {
            index++;
            items.Add(ParseExpression());
        }

        return new ListExpr(first.Position, items, IsTuple: true);
    }

    Expr ParseExpression(bool allowConditional = true)
    {
        Expr expr = ParseOr();
        while (allowConditional && IsName("if"))
        {
            int position = Next().Position;
            Expr test = ParseOr();
            Expr? otherwise = null;
            if (IsName("else"))
            {
                index++;
                otherwise = ParseExpression();
            }

            expr = new ConditionalExpr(position, expr, test, otherwise);
        }

        return expr;
    }

    Expr ParseOr()
    {
        Expr left = ParseAnd();
        while (IsName("or"))
        {
            int position = Next().Position;
            left = new BinaryExpr(position, "or", left, ParseAnd());
        }

        return left;
    }

    Expr ParseAnd()
    {
        Expr left = ParseNot();
        while (IsName("and"))
        {
            int position = Next().Position;
            left = new BinaryExpr(position, "and", left, ParseNot());
        }

        return left;
    }

    Expr ParseNot()
    {
        if (IsName("not"))
        {
            int position = Next().Position;
            return new UnaryExpr(position, "not", ParseNot());
        }

        return ParseCompare();
    }

    Expr ParseCompare()
    {
        Expr first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            if (Current.Kind == TokenKind.Operator && Current.Value is "==" or "!=" or "<" or ">" or "<=" or ">=")
            {
                string op = Next().Value;
                rest.Add((op, ParseMath1()));
            }
            else if (IsName("in"))
            {
                index++;
                rest.Add(("in", ParseMath1()));
            }
            else if (IsName("not") && tokens[index + 1].Is(TokenKind.Name, "in"))
            {
                index += 2;
                rest.Add(("not in", ParseMath1()));
            }
            else
            {
                break;
            }
        }

        return rest.Count == 0 ? first : new CompareExpr(first.Position, first, rest);
    }

    Expr ParseMath1()
    {
        Expr left = ParseConcat();
        while (Current.Kind == TokenKind.Operator && Current.Value is "+" or "-")
        {
            Token op = Next();
            left = new BinaryExpr(op.Position, op.Value, left, ParseConcat());
        }

        return left;
    }

    Expr ParseConcat()
    {
        Expr left = ParseMath2();
        while (IsOperator("~"))
        {
            Token op = Next();
            left = new BinaryExpr(op.Position, "~", left, ParseMath2());
        }

        return left;
    }

    Expr ParseMath2()
    {
        Expr left = ParsePow();
        while (Current.Kind == TokenKind.Operator && Current.Value is "*" or "/" or "//" or "%")
        {
            Token op = Next();
            left = new BinaryExpr(op.Position, op.Value, left, ParsePow());
        }

        return left;
    }

    Expr ParsePow()
    {
        Expr left = ParseUnary(withFilter: true);
        while (IsOperator("**"))
        {
            Token op = Next();
            left = new BinaryExpr(op.Position, "**", left, ParseUnary(withFilter: true));
        }

        return left;
    }

    Expr ParseUnary(bool withFilter)
    {
        Expr node;
        if (Current.Kind == TokenKind.Operator && Current.Value is "-" or "+")
        {
            Token op = Next();
            node = new UnaryExpr(op.Position, op.Value, ParseUnary(withFilter: false));
        }
        else
        {
            node = ParsePrimary();
        }

        node = ParsePostfix(node);
        return withFilter ? ParseFiltersAndTests(node) : node;
    }

    Expr ParsePrimary()
    {
        Token token = Next();
        switch (token.Kind)
        {
            case TokenKind.String:
            {
                // Adjacent string literals concatenate, as in Python.
                string value = token.Value;
                while (Current.Kind == TokenKind.String)
                {
                    value += Next().Value;
                }

                return new LiteralExpr(token.Position, value);
            }

            case TokenKind.Integer:
                return long.TryParse(token.Value, NumberStyles.None, CultureInfo.InvariantCulture, out long integer)
                    ? new LiteralExpr(token.Position, integer)
                    : throw new JinjaException(token.Position, $"the integer {token.Value} is too large");
            case TokenKind.Float:
                return new LiteralExpr(token.Position, double.Parse(token.Value, CultureInfo.InvariantCulture));
            case TokenKind.Name:
                return token.Value switch
                {
                    "true" or "True" => new LiteralExpr(token.Position, true),
                    "false" or "False" => new LiteralExpr(token.Position, false),
                    "none" or "None" => new LiteralExpr(token.Position, null),
                    _ => new NameExpr(token.Position, token.Value),
                };
            case TokenKind.Operator when token.Value == "(":
            {
                if (IsOperator(")"))
                {
                    index++;
                    return new ListExpr(token.Position, [], IsTuple: true);
                }

                Expr inner = ParseExpression();
                if (IsOperator(","))
                {
                    var items = new List<Expr> { inner };
                    while (IsOperator(","))
                    {
                        index++;
                        if (IsOperator(")"))
                        {
                            break;
                        }

                        items.Add(ParseExpression());
                    }

                    inner = new ListExpr(token.Position, items, IsTuple: true);
                }

                Expect(TokenKind.Operator, ")");
                return inner;
            }

            case TokenKind.Operator when token.Value == "[":
            {
                var items = new List<Expr>();
                while (!IsOperator("]"))
                {
                    items.Add(ParseExpression());
                    if (!IsOperator(","))
                    {
                        break;
                    }

                    index++;
                }

                Expect(TokenKind.Operator, "]");
                return new ListExpr(token.Position, items, IsTuple: false);
            }

            case TokenKind.Operator when token.Value == "{":
            {
                var items = new List<(Expr, Expr)>();
                while (!IsOperator("}"))
                {
                    Expr key = ParseExpression();
                    Expect(TokenKind.Operator, ":");
                    items.Add((key, ParseExpression()));
                    if (!IsOperator(","))
                    {
                        break;
                    }

                    index++;
                }

                Expect(TokenKind.Operator, "}");
                return new DictExpr(token.Position, items);
            }

            default:
                throw new JinjaException(token.Position, $"unexpected {Describe(token)} in an expression");
        }
    }

    Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            if (IsOperator("."))
            {
                int position = Next().Position;
                Token name = Current;
                if (name.Kind is TokenKind.Name or TokenKind.Integer)
                {
                    index++;
                    node = name.Kind == TokenKind.Name
                        ? new AttributeExpr(position, node, name.Value)
                        : new ItemExpr(position, node, new LiteralExpr(name.Position, long.Parse(name.Value, CultureInfo.InvariantCulture)));
                    continue;
                }

                throw new JinjaException(name.Position, $"expected an attribute name after '.', found {Describe(name)}");
            }

            if (IsOperator("["))
            {
                node = ParseSubscript(node);
                continue;
            }

            if (IsOperator("("))
            {
                (List<Expr> args, List<(string, Expr)> keywords) = ParseCallArguments();
                node = new CallExpr(node.Position, node, args, keywords);
                continue;
            }

            return node;
        }
    }

    Expr ParseSubscript(Expr target)
    {
        int position = Expect(TokenKind.Operator, "[").Position;
        Expr? start = null, stop = null, step = null;
        bool isSlice = false;
        if (!IsOperator(":"))
        {
            start = ParseExpression();
        }

        if (IsOperator(":"))
        {
            isSlice = true;
            index++;
            if (!IsOperator("]") && !IsOperator(":"))
            {
                stop = ParseExpression();
            }

            if (IsOperator(":"))
            {
                index++;
                if (!IsOperator("]"))
                {
                    step = ParseExpression();
                }
            }
        }

        Expect(TokenKind.Operator, "]");
        return isSlice ? new SliceExpr(position, target, start, stop, step) : new ItemExpr(position, target, start!);
    }

    (List<Expr> Args, List<(string Name, Expr Value)> Keywords) ParseCallArguments()
    {
        Expect(TokenKind.Operator, "(");
        var args = new List<Expr>();
        var keywords = new List<(string, Expr)>();
        while (!IsOperator(")"))
        {
            if (IsOperator("*") || IsOperator("**"))
            {
                Token star = Next();
                args.Add(new SplatExpr(star.Position, ParseExpression(), IsKeywords: star.Value == "**"));
            }
            else
            if (Current.Kind == TokenKind.Name && tokens[index + 1].Is(TokenKind.Operator, "="))
            {
                string name = Next().Value;
                index++;
                keywords.Add((name, ParseExpression()));
            }
            else
            {
                if (keywords.Count > 0 && !IsOperator("*"))
                {
                    throw new JinjaException(Current.Position, "a positional argument follows a keyword argument");
                }

                args.Add(ParseExpression());
            }

            if (!IsOperator(","))
            {
                break;
            }

            index++;
        }

        Expect(TokenKind.Operator, ")");
        return (args, keywords);
    }

    Expr ParseFiltersAndTests(Expr node)
    {
        while (true)
        {
            if (IsOperator("|"))
            {
                node = ParseFilter(node);
            }
            else if (IsName("is"))
            {
                int position = Next().Position;
                bool negated = false;
                if (IsName("not"))
                {
                    index++;
                    negated = true;
                }

                string name = ParseDottedName();
                var args = new List<Expr>();
                if (IsOperator("("))
                {
                    (List<Expr> callArgs, List<(string, Expr)> keywords) = ParseCallArguments();
                    args.AddRange(callArgs);
                    args.AddRange(keywords.Select(k => k.Item2));
                }
                else if (StartsTestArgument())
                {
                    // `x is divisibleby 3`, `x is sameas none`: one argument without parentheses.
                    args.Add(ParsePostfix(ParsePrimary()));
                }

                node = new TestExpr(position, node, name, args, negated);
            }
            else
            {
                return node;
            }
        }
    }

    bool StartsTestArgument()
    {
        Token token = Current;
        return token.Kind is TokenKind.String or TokenKind.Integer or TokenKind.Float
            || (token.Kind == TokenKind.Name && token.Value is not ("else" or "or" or "and" or "if" or "in" or "not" or "is"))
            || token.Is(TokenKind.Operator, "[") || token.Is(TokenKind.Operator, "{");
    }

    FilterExpr ParseFilter(Expr? value)
    {
        if (value is not null)
        {
            Expect(TokenKind.Operator, "|");
        }

        int position = Current.Position;
        string name = ParseDottedName();
        List<Expr> args = [];
        List<(string, Expr)> keywords = [];
        if (IsOperator("("))
        {
            (args, keywords) = ParseCallArguments();
        }

        var filter = new FilterExpr(position, value, name, args, keywords);
        return value is null && IsOperator("|") ? throw new JinjaException(Current.Position, "chained filters on a filter block are not supported") : filter;
    }

    string ParseDottedName()
    {
        string name = Expect(TokenKind.Name).Value;
        while (IsOperator(".") && tokens[index + 1].Kind == TokenKind.Name)
        {
            index++;
            name += "." + Next().Value;
        }

        return name;
    }
}
