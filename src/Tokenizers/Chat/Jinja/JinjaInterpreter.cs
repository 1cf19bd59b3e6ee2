using System.Globalization;
using System.Text;

namespace LlavaModal.Tokenizers.Chat.Jinja;

/// <summary>
/// Runs a parsed template with Jinja's semantics: <c>for</c> bodies and macros get their own scope (so a plain
/// <c>set</c> inside a loop does not leak out, which is why templates use <c>namespace()</c>), <c>if</c> does not;
/// <c>obj.name</c> looks up an attribute (method) before an item, <c>obj[key]</c> the other way round; a missing value
/// is <see cref="Undefined"/> and only an error when used further. Globals: <c>range</c>, <c>namespace</c>,
/// <c>dict</c>, <c>raise_exception</c>, <c>strftime_now</c>.
/// </summary>
sealed class JinjaInterpreter
{
    const int MaxRange = 100_000;
    const int MaxCallDepth = 200;

    readonly Scope root;
    StringBuilder output = new();
    int callDepth;

    JinjaInterpreter(IReadOnlyDictionary<string, object?> variables)
    {
        root = new Scope(null);
        foreach ((string name, object? value) in Globals())
        {
            root.Variables[name] = value;
        }

        foreach ((string name, object? value) in variables)
        {
            root.Variables[name] = value;
        }
    }

    enum Flow
    {
        Normal,
        Break,
        Continue,
    }

    public static string Render(IReadOnlyList<Node> template, IReadOnlyDictionary<string, object?> variables)
    {
        var interpreter = new JinjaInterpreter(variables);
        if (interpreter.Execute(template, interpreter.root) != Flow.Normal)
        {
            throw new JinjaException(-1, "'break' or 'continue' outside a loop");
        }

        return interpreter.output.ToString();
    }

    sealed class Scope(Scope? parent)
    {
        public Dictionary<string, object?> Variables { get; } = new(StringComparer.Ordinal);

        public bool TryGet(string name, out object? value)
        {
            for (Scope? s = this; s is not null; s = s.Parent)
            {
                if (s.Variables.TryGetValue(name, out value))
                {
                    return true;
                }
            }

            value = null;
            return false;
        }

        public Scope? Parent { get; } = parent;
    }

    Flow Execute(IReadOnlyList<Node> nodes, Scope scope)
    {
        foreach (Node node in nodes)
        {
            Flow flow = Execute(node, scope);
            if (flow != Flow.Normal)
            {
                return flow;
            }
        }

        return Flow.Normal;
    }

    Flow Execute(Node node, Scope scope)
    {
        switch (node)
        {
            case TextNode text:
                output.Append(text.Text);
                return Flow.Normal;
            case OutputNode output:
                this.output.Append(JinjaOps.ToStr(Evaluate(output.Value, scope)));
                return Flow.Normal;
            case IfNode ifNode:
                foreach ((Expr condition, IReadOnlyList<Node> body) in ifNode.Branches)
                {
                    if (JinjaOps.IsTrue(Evaluate(condition, scope)))
                    {
                        return Execute(body, scope);
                    }
                }

                return ifNode.Else is null ? Flow.Normal : Execute(ifNode.Else, scope);
            case ForNode forNode:
                ExecuteFor(forNode, scope);
                return Flow.Normal;
            case SetNode set:
                ExecuteSet(set, scope);
                return Flow.Normal;
            case MacroNode macro:
                scope.Variables[macro.Name] = MakeMacro(macro.Name, macro.Parameters, macro.Body, macro.Position);
                return Flow.Normal;
            case CallBlockNode call:
            {
                JinjaFunction caller = MakeMacro("caller", call.CallerParameters, call.Body, call.Position, scope);
                output.Append(JinjaOps.ToStr(Call(call.Call, scope, caller)));
                return Flow.Normal;
            }

            case FilterBlockNode filter:
            {
                string body = Capture(() => Execute(filter.Body, scope), filter.Position);
                output.Append(JinjaOps.ToStr(ApplyFilter(filter.Filter, body, scope)));
                return Flow.Normal;
            }

            case LoopControlNode control:
                return control.IsBreak ? Flow.Break : Flow.Continue;
            default:
                throw new JinjaException(node.Position, $"cannot run {node.GetType().Name}");
        }
    }

    string Capture(Func<Flow> body, int position)
    {
        StringBuilder saved = output;
        output = new StringBuilder();
        try
        {
            if (body() != Flow.Normal)
            {
                throw new JinjaException(position, "'break' or 'continue' outside a loop");
            }

            return output.ToString();
        }
        finally
        {
            output = saved;
        }
    }

    void ExecuteFor(ForNode node, Scope scope)
    {
        List<object?> items = JinjaOps.Iterate(Evaluate(node.Iterable, scope), node.Iterable.Position);
        var loopScope = new Scope(scope);
        if (node.Filter is not null)
        {
            // The inline filter runs before the loop object exists, so loop.length counts only what passes.
            items = items.Where(item =>
            {
                Assign(loopScope, node.Targets, item, node.Position);
                return JinjaOps.IsTrue(Evaluate(node.Filter, loopScope));
            }).ToList();
        }

        if (items.Count == 0)
        {
            if (node.Else is not null)
            {
                Execute(node.Else, scope);
            }

            return;
        }

        var loop = new JinjaLoop(items);
        loopScope.Variables["loop"] = loop;
        for (int i = 0; i < items.Count; i++)
        {
            loop.Index0 = i;
            Assign(loopScope, node.Targets, items[i], node.Position);
            if (Execute(node.Body, loopScope) == Flow.Break)
            {
                break;
            }
        }
    }

    static void Assign(Scope scope, IReadOnlyList<string> names, object? value, int position)
    {
        if (names.Count == 1)
        {
            scope.Variables[names[0]] = value;
            return;
        }

        List<object?> parts = value is string ? throw new JinjaException(position, "cannot unpack a string into several names") : JinjaOps.Iterate(value, position);
        if (parts.Count != names.Count)
        {
            throw new JinjaException(position, $"cannot unpack {parts.Count} values into {names.Count} names");
        }

        for (int i = 0; i < names.Count; i++)
        {
            scope.Variables[names[i]] = parts[i];
        }
    }

    void ExecuteSet(SetNode set, Scope scope)
    {
        object? value = set.Value is null ? Capture(() => Execute(set.Body!, scope), set.Position) : Evaluate(set.Value, scope);
        if (set.Attribute is null)
        {
            Assign(scope, set.Names, value, set.Position);
            return;
        }

        scope.TryGet(set.Names[0], out object? target);
        if (target is not JinjaNamespace ns)
        {
            throw new JinjaException(set.Position, $"cannot assign attribute '{set.Attribute}' on {JinjaOps.TypeName(target)} '{set.Names[0]}'; only namespace() objects take attributes");
        }

        ns.Attributes[set.Attribute] = value;
    }

    /// <summary>A macro (or a call block's <c>caller</c>): its own scope over the template's top level, or over <paramref name="closure"/>.</summary>
    JinjaFunction MakeMacro(string name, IReadOnlyList<(string Name, Expr? Default)> parameters, IReadOnlyList<Node> body, int position, Scope? closure = null) =>
        new(name, args =>
        {
            if (++callDepth > MaxCallDepth)
            {
                throw new JinjaException(position, $"macro '{name}' recursed more than {MaxCallDepth} levels");
            }

            try
            {
                var scope = new Scope(closure ?? root);
                var extra = new List<object?>();
                for (int i = 0; i < args.Positional.Count; i++)
                {
                    if (i < parameters.Count)
                    {
                        scope.Variables[parameters[i].Name] = args.Positional[i];
                    }
                    else
                    {
                        extra.Add(args.Positional[i]);
                    }
                }

                var kwargs = new JinjaDict();
                foreach ((string key, object? value) in args.Keywords)
                {
                    if (key == "caller" || parameters.Any(p => p.Name == key))
                    {
                        scope.Variables[key] = value;
                    }
                    else
                    {
                        kwargs[key] = value;
                    }
                }

                foreach ((string parameter, Expr? fallback) in parameters)
                {
                    if (!scope.Variables.ContainsKey(parameter))
                    {
                        scope.Variables[parameter] = fallback is null ? new Undefined($"'{parameter}' is undefined (macro '{name}' was called without it)") : Evaluate(fallback, scope);
                    }
                }

                scope.Variables["varargs"] = extra;
                scope.Variables["kwargs"] = kwargs;
                return Capture(() => Execute(body, scope), position);
            }
            finally
            {
                callDepth--;
            }
        });

    object? Evaluate(Expr expr, Scope scope)
    {
        switch (expr)
        {
            case LiteralExpr literal:
                return literal.Value;
            case NameExpr name:
                return scope.TryGet(name.Name, out object? value) ? value : new Undefined($"'{name.Name}' is undefined");
            case ListExpr list:
            {
                List<object?> items = list.Items.Select(i => Evaluate(i, scope)).ToList();
                return list.IsTuple ? items.ToArray() : items;
            }

            case DictExpr dict:
            {
                var result = new JinjaDict();
                foreach ((Expr key, Expr item) in dict.Items)
                {
                    object? k = Evaluate(key, scope);
                    result[k is null or Undefined ? throw new JinjaException(key.Position, "a dict key cannot be none or undefined") : k] = Evaluate(item, scope);
                }

                return result;
            }

            case AttributeExpr attribute:
                return GetAttribute(Evaluate(attribute.Target, scope), attribute.Name, attribute.Position);
            case ItemExpr item:
                return GetItem(Evaluate(item.Target, scope), Evaluate(item.Key, scope), item.Position);
            case SliceExpr slice:
            {
                object? target = Evaluate(slice.Target, scope);
                if (target is Undefined u)
                {
                    throw new JinjaException(slice.Position, u.Description);
                }

                return JinjaOps.Slice(target, Optional(slice.Start), Optional(slice.Stop), Optional(slice.Step), slice.Position);
            }

            case CallExpr call:
                return Call(call, scope, caller: null);
            case FilterExpr filter:
                return ApplyFilter(filter, Evaluate(filter.Value!, scope), scope);
            case TestExpr test:
            {
                bool result = JinjaTests.Apply(test.Name, Evaluate(test.Value, scope), test.Arguments.Select(a => Evaluate(a, scope)).ToList(), test.Position);
                return result != test.Negated;
            }

            case UnaryExpr unary:
            {
                object? operand = Evaluate(unary.Operand, scope);
                return unary.Operator switch
                {
                    "not" => !JinjaOps.IsTrue(operand),
                    "-" => operand switch
                    {
                        long l => (object)(-l),
                        double d => -d,
                        bool b => b ? -1L : 0L,
                        _ => throw new JinjaException(unary.Position, $"bad operand type for unary -: '{JinjaOps.TypeName(operand)}'"),
                    },
                    _ => JinjaOps.IsNumber(operand) ? operand : throw new JinjaException(unary.Position, $"bad operand type for unary +: '{JinjaOps.TypeName(operand)}'"),
                };
            }

            case BinaryExpr binary:
                return EvaluateBinary(binary, scope);
            case CompareExpr compare:
            {
                object? left = Evaluate(compare.First, scope);
                foreach ((string op, Expr operand) in compare.Rest)
                {
                    object? right = Evaluate(operand, scope);
                    bool holds = op switch
                    {
                        "==" => JinjaOps.Equal(left, right),
                        "!=" => !JinjaOps.Equal(left, right),
                        "in" => JinjaOps.Contains(right, left, operand.Position),
                        "not in" => !JinjaOps.Contains(right, left, operand.Position),
                        "<" => JinjaOps.Compare(left, right, op, operand.Position) < 0,
                        ">" => JinjaOps.Compare(left, right, op, operand.Position) > 0,
                        "<=" => JinjaOps.Compare(left, right, op, operand.Position) <= 0,
                        _ => JinjaOps.Compare(left, right, op, operand.Position) >= 0,
                    };
                    if (!holds)
                    {
                        return false;
                    }

                    left = right;
                }

                return true;
            }

            case ConditionalExpr conditional:
                return JinjaOps.IsTrue(Evaluate(conditional.Test, scope))
                    ? Evaluate(conditional.Then, scope)
                    : conditional.Otherwise is null ? new Undefined("the conditional expression has no else") : Evaluate(conditional.Otherwise, scope);
            default:
                throw new JinjaException(expr.Position, $"cannot evaluate {expr.GetType().Name}");
        }

        object? Optional(Expr? e) => e is null ? null : Evaluate(e, scope);
    }

    object? EvaluateBinary(BinaryExpr binary, Scope scope)
    {
        object? left = Evaluate(binary.Left, scope);
        switch (binary.Operator)
        {
            case "and":
                return JinjaOps.IsTrue(left) ? Evaluate(binary.Right, scope) : left;
            case "or":
                return JinjaOps.IsTrue(left) ? left : Evaluate(binary.Right, scope);
            case "~":
                return JinjaOps.ToStr(left) + JinjaOps.ToStr(Evaluate(binary.Right, scope));
            default:
                return JinjaOps.Arithmetic(binary.Operator, left, Evaluate(binary.Right, scope), binary.Position);
        }
    }

    object? ApplyFilter(FilterExpr filter, object? value, Scope scope) =>
        JinjaFilters.Apply(filter.Name, value, Arguments(filter.Arguments, filter.Keywords, scope, filter.Position));

    JinjaArguments Arguments(IReadOnlyList<Expr> positional, IReadOnlyList<(string Name, Expr Value)> keywords, Scope scope, int position)
    {
        var values = new List<object?>();
        var named = keywords.ToDictionary(k => k.Name, k => Evaluate(k.Value, scope), StringComparer.Ordinal);
        foreach (Expr argument in positional)
        {
            if (argument is not SplatExpr splat)
            {
                values.Add(Evaluate(argument, scope));
            }
            else if (!splat.IsKeywords)
            {
                values.AddRange(JinjaOps.Iterate(Evaluate(splat.Value, scope), splat.Position));
            }
            else if (Evaluate(splat.Value, scope) is JinjaDict mapping)
            {
                foreach ((object key, object? value) in mapping)
                {
                    named[JinjaOps.ToStr(key)] = value;
                }
            }
            else
            {
                throw new JinjaException(splat.Position, "** needs a mapping");
            }
        }

        return new JinjaArguments(values, named, position);
    }

    object? Call(CallExpr call, Scope scope, JinjaFunction? caller)
    {
        JinjaFunction function;
        if (call.Callee is AttributeExpr method)
        {
            object? target = Evaluate(method.Target, scope);
            function = JinjaMethods.Find(target, method.Name, call.Position)
                ?? GetAttribute(target, method.Name, method.Position) as JinjaFunction
                ?? throw new JinjaException(method.Position, $"'{JinjaOps.TypeName(target)}' object has no method '{method.Name}' (this renderer supports the str, dict and list methods chat templates use)");
        }
        else
        {
            object? callee = Evaluate(call.Callee, scope);
            function = callee as JinjaFunction ?? throw new JinjaException(call.Position, callee is Undefined u
                ? $"{u.Description}; it cannot be called"
                : $"'{JinjaOps.TypeName(callee)}' object is not callable");
        }

        JinjaArguments args = Arguments(call.Arguments, call.Keywords, scope, call.Position);
        if (caller is not null)
        {
            args = args with { Keywords = new Dictionary<string, object?>(args.Keywords) { ["caller"] = caller } };
        }

        try
        {
            return function.Invoke(args);
        }
        catch (JinjaException e) when (e.Position < 0)
        {
            e.Position = call.Position;
            throw;
        }
    }

    /// <summary>Jinja's <c>getattr</c>: attribute (or method) first, then item; undefined when neither exists.</summary>
    internal static object? GetAttribute(object? target, string name, int position)
    {
        switch (target)
        {
            case Undefined u:
                throw new JinjaException(position, u.Description);
            case JinjaDict dict:
                return JinjaMethods.Find(dict, name, position) is { } bound ? bound
                    : dict.TryGetValue(name, out object? value) ? value : new Undefined($"'dict object' has no attribute '{name}'");
            case JinjaNamespace ns:
                return ns.Attributes.TryGetValue(name, out object? attribute) ? attribute : new Undefined($"'Namespace' has no attribute '{name}'");
            case JinjaLoop loop:
                object? loopValue = loop.Attribute(name, out bool found);
                return found ? loopValue : new Undefined($"'LoopContext' has no attribute '{name}'");
            default:
                return JinjaMethods.Find(target, name, position) is { } method ? method
                    : new Undefined($"'{(target is null ? "None" : JinjaOps.TypeName(target) + " object")}' has no attribute '{name}'");
        }
    }

    /// <summary>Jinja's <c>getitem</c>: item first, then (for a string key) attribute.</summary>
    internal static object? GetItem(object? target, object? key, int position)
    {
        if (target is Undefined u)
        {
            throw new JinjaException(position, u.Description);
        }

        object? value = target is JinjaNamespace or JinjaLoop ? new Undefined(string.Empty) : JinjaOps.Index(target, key);
        return value is Undefined && key is string name ? GetAttribute(target, name, position) : value;
    }

    /// <summary>A dotted attribute path as filters take it (<c>"content.type"</c>, <c>"0"</c>), item lookups part by part.</summary>
    internal static object? GetAttributePath(object? target, string path, int position)
    {
        foreach (string part in path.Split('.'))
        {
            if (target is Undefined)
            {
                return target;
            }

            object key = long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out long index) ? index : part;
            target = GetItem(target, key, position);
        }

        return target;
    }

    static IEnumerable<(string, object?)> Globals()
    {
        yield return ("range", new JinjaFunction("range", Range));
        yield return ("namespace", new JinjaFunction("namespace", args =>
        {
            var ns = new JinjaNamespace();
            if (args.Positional.Count > 0 && args.Positional[0] is JinjaDict initial)
            {
                foreach ((object key, object? value) in initial)
                {
                    ns.Attributes[JinjaOps.ToStr(key)] = value;
                }
            }

            foreach ((string key, object? value) in args.Keywords)
            {
                ns.Attributes[key] = value;
            }

            return ns;
        }));
        yield return ("dict", new JinjaFunction("dict", args =>
        {
            var dict = new JinjaDict();
            foreach ((string key, object? value) in args.Keywords)
            {
                dict[key] = value;
            }

            return dict;
        }));
        yield return ("raise_exception", new JinjaFunction("raise_exception", args =>
            throw new JinjaException(args.Position, JinjaOps.ToStr(args.Get(0, "message", "raise_exception() was called")), raisedByTemplate: true)));
        yield return ("strftime_now", new JinjaFunction("strftime_now", args => Strftime(DateTime.Now, JinjaOps.ToStr(args.Get(0, "format")))));
    }

    static object? Range(JinjaArguments args)
    {
        if (args.Positional.Any(a => a is not long and not bool))
        {
            throw new JinjaException(args.Position, "range() takes integers");
        }

        long start = 0, stop, step = 1;
        switch (args.Positional.Count)
        {
            case 1:
                stop = JinjaOps.ToLong(args.Positional[0]);
                break;
            case 2 or 3:
                start = JinjaOps.ToLong(args.Positional[0]);
                stop = JinjaOps.ToLong(args.Positional[1]);
                step = args.Positional.Count == 3 ? JinjaOps.ToLong(args.Positional[2]) : 1;
                break;
            default:
                throw new JinjaException(args.Position, "range() takes 1 to 3 arguments");
        }

        if (step == 0)
        {
            throw new JinjaException(args.Position, "range() arg 3 must not be zero");
        }

        var result = new List<object?>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step)
        {
            if (result.Count >= MaxRange)
            {
                throw new JinjaException(args.Position, $"range() is limited to {MaxRange} items");
            }

            result.Add(i);
        }

        return result;
    }

    /// <summary>Python's <c>strftime</c> for the directives date-stamping templates use (the reference uses the local time too).</summary>
    static string Strftime(DateTime now, string format)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                sb.Append(format[i]);
                continue;
            }

            char d = format[++i];
            CultureInfo c = CultureInfo.InvariantCulture;
            sb.Append(d switch
            {
                'Y' => now.ToString("yyyy", c),
                'y' => now.ToString("yy", c),
                'm' => now.ToString("MM", c),
                'd' => now.ToString("dd", c),
                'B' => now.ToString("MMMM", c),
                'b' => now.ToString("MMM", c),
                'A' => now.ToString("dddd", c),
                'a' => now.ToString("ddd", c),
                'H' => now.ToString("HH", c),
                'I' => now.ToString("hh", c),
                'M' => now.ToString("mm", c),
                'S' => now.ToString("ss", c),
                'p' => now.ToString("tt", c),
                'j' => now.DayOfYear.ToString("000", c),
                '%' => "%",
                _ => throw new JinjaException(-1, $"strftime_now: the directive '%{d}' is not supported"),
            });
        }

        return sb.ToString();
    }
}
