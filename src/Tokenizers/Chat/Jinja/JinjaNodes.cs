namespace LlavaModal.Tokenizers.Chat.Jinja;

// The syntax tree of a template. Every node keeps its source offset so run-time errors name a line and column.

/// <summary>A statement or piece of output.</summary>
abstract record Node(int Position);

/// <summary>Literal template text.</summary>
sealed record TextNode(int Position, string Text) : Node(Position);

/// <summary><c>{{ expr }}</c>.</summary>
sealed record OutputNode(int Position, Expr Value) : Node(Position);

/// <summary><c>{% if %}</c> with its <c>elif</c> branches and optional <c>else</c>.</summary>
sealed record IfNode(int Position, IReadOnlyList<(Expr Condition, IReadOnlyList<Node> Body)> Branches, IReadOnlyList<Node>? Else) : Node(Position);

/// <summary><c>{% for targets in iterable [if filter] %}</c> with optional <c>else</c> (run when nothing was iterated).</summary>
sealed record ForNode(int Position, IReadOnlyList<string> Targets, Expr Iterable, Expr? Filter, IReadOnlyList<Node> Body, IReadOnlyList<Node>? Else) : Node(Position);

/// <summary><c>{% set a = x %}</c>, <c>{% set a, b = x %}</c>, <c>{% set ns.attr = x %}</c>, or the block form <c>{% set a %}...{% endset %}</c>.</summary>
sealed record SetNode(int Position, IReadOnlyList<string> Names, string? Attribute, Expr? Value, IReadOnlyList<Node>? Body) : Node(Position);

/// <summary><c>{% macro name(params) %}</c>.</summary>
sealed record MacroNode(int Position, string Name, IReadOnlyList<(string Name, Expr? Default)> Parameters, IReadOnlyList<Node> Body) : Node(Position);

/// <summary><c>{% call [(params)] macro(args) %}body{% endcall %}</c>: the macro runs with <c>caller()</c> rendering the body.</summary>
sealed record CallBlockNode(int Position, CallExpr Call, IReadOnlyList<(string Name, Expr? Default)> CallerParameters, IReadOnlyList<Node> Body) : Node(Position);

/// <summary><c>{% filter name(args) %}body{% endfilter %}</c>.</summary>
sealed record FilterBlockNode(int Position, FilterExpr Filter, IReadOnlyList<Node> Body) : Node(Position);

/// <summary><c>{% break %}</c> / <c>{% continue %}</c> (the loopcontrols extension HF enables).</summary>
sealed record LoopControlNode(int Position, bool IsBreak) : Node(Position);

/// <summary>An expression.</summary>
abstract record Expr(int Position);

sealed record LiteralExpr(int Position, object? Value) : Expr(Position);

sealed record NameExpr(int Position, string Name) : Expr(Position);

sealed record ListExpr(int Position, IReadOnlyList<Expr> Items, bool IsTuple) : Expr(Position);

sealed record DictExpr(int Position, IReadOnlyList<(Expr Key, Expr Value)> Items) : Expr(Position);

/// <summary><c>obj.name</c> (attribute first, then item, as Jinja's <c>getattr</c>).</summary>
sealed record AttributeExpr(int Position, Expr Target, string Name) : Expr(Position);

/// <summary><c>obj[key]</c> (item first, then attribute, as Jinja's <c>getitem</c>).</summary>
sealed record ItemExpr(int Position, Expr Target, Expr Key) : Expr(Position);

sealed record SliceExpr(int Position, Expr Target, Expr? Start, Expr? Stop, Expr? Step) : Expr(Position);

sealed record CallExpr(int Position, Expr Callee, IReadOnlyList<Expr> Arguments, IReadOnlyList<(string Name, Expr Value)> Keywords) : Expr(Position);

/// <summary><c>*items</c> or <c>**mapping</c> in a call's arguments, expanded into positional or keyword arguments.</summary>
sealed record SplatExpr(int Position, Expr Value, bool IsKeywords) : Expr(Position);

/// <summary><c>value | name(args)</c>; <see cref="Value"/> is null in a filter block, where the body is the value.</summary>
sealed record FilterExpr(int Position, Expr? Value, string Name, IReadOnlyList<Expr> Arguments, IReadOnlyList<(string Name, Expr Value)> Keywords) : Expr(Position);

/// <summary><c>value is [not] name(args)</c>.</summary>
sealed record TestExpr(int Position, Expr Value, string Name, IReadOnlyList<Expr> Arguments, bool Negated) : Expr(Position);

/// <summary><c>not x</c>, <c>-x</c>, <c>+x</c>.</summary>
sealed record UnaryExpr(int Position, string Operator, Expr Operand) : Expr(Position);

/// <summary>Arithmetic, <c>~</c>, <c>and</c>, <c>or</c>.</summary>
sealed record BinaryExpr(int Position, string Operator, Expr Left, Expr Right) : Expr(Position);

/// <summary>A comparison chain <c>a &lt; b &lt;= c</c>, including <c>in</c> and <c>not in</c>.</summary>
sealed record CompareExpr(int Position, Expr First, IReadOnlyList<(string Operator, Expr Operand)> Rest) : Expr(Position);

/// <summary><c>then if test else otherwise</c>; without <c>else</c> the value is undefined when the test fails.</summary>
sealed record ConditionalExpr(int Position, Expr Then, Expr Test, Expr? Otherwise) : Expr(Position);
