// Package sqlfilter implements the Azure Service Bus subscription rule
// languages: the SQL filter (a SQL-92 subset evaluated against a message's
// system and user properties), the SQL rule action (SET/REMOVE statements
// that rewrite a matched message's properties) and the correlation filter.
// The package knows nothing of AMQP or HTTP: the broker adapts its messages
// to the Message and MutableMessage interfaces defined here.
//
// # Filter grammar
//
//	predicate  := NOT predicate | predicate AND predicate | predicate OR predicate
//	            | expression {= | <> | != | > | >= | < | <=} expression
//	            | expression IS [NOT] NULL
//	            | expression [NOT] IN ( expression [, ...] )
//	            | expression [NOT] LIKE expression [ESCAPE expression]
//	            | EXISTS ( property ) | ( predicate )
//	expression := constant | function | property | @parameter
//	            | expression {+ | - | * | / | %} expression
//	            | {+ | -} expression | ( expression )
//	property   := [sys. | user.] name
//	name       := regular_identifier | [delimited ]]identifier] | "quoted ""identifier"
//	function   := newid() | property(expression) | p(expression)
//
// Keywords (AND OR NOT IN LIKE ESCAPE IS NULL EXISTS TRUE FALSE, and SET
// REMOVE in actions) are case-insensitive and reserved: a property with
// such a name must be written [Not] or "Not". A regular identifier starts
// with a Unicode letter followed by letters, decimal digits or '_'.
// Precedence, lowest first: OR, AND, NOT, comparison/IS/IN/LIKE, + -,
// * / %, unary + -.
//
// Constants: integers are int64 ("long"); numbers with a decimal point or
// an exponent are float64 ("double"); strings are quoted with ' (a quote
// inside is doubled); TRUE, FALSE and NULL. An expression is at most
// MaxExpressionLength characters (counted as UTF-16 code units, as .NET
// does) and parentheses, NOT and unary operators nest at most
// MaxNestingDepth levels.
//
// @name parameters (the SqlFilter.Parameters of the Service Bus APIs) are
// bound at parse time by ParseWithParameters and ParseActionWithParameters;
// an unbound parameter is a syntax error. newid() returns a random UUID;
// property(x) and its short form p(x) read the property whose name is the
// string x, which may start with "sys." or "user.".
//
// # Properties and values
//
// A name without scope, or with user., is a user (application) property;
// a missing user property evaluates to NULL ("unknown"). Property names
// are case-insensitive: Message implementations should look names up
// case-insensitively (MapMessage does). sys. names are checked at parse
// time against the broker property list (see CanonicalSystemProperty) and
// handed to Message.SystemProperty in their canonical spelling (Subject is
// an alias of Label, TransactionPartitionKey of ViaPartitionKey); naming
// an unknown system property is a syntax error.
//
// Values a Message may return, and how they are typed:
//
//	nil                               NULL
//	bool                              boolean
//	int8, int16, int32, uint8, uint16 int32 ("int")
//	int, int64, uint32                int64 ("long")
//	uint, uint64                      int64 if it fits, else float64
//	float32, float64                  float64 ("double")
//	string                            string
//	time.Time                         DateTime
//	time.Duration                     TimeSpan
//	UUID or any [16]byte array type   Guid (evaluation yields UUID)
//	anything else                     opaque: only IS NULL and EXISTS work
//
// # Semantics
//
// Logic is three-valued (TRUE, FALSE, unknown) with the SQL tables for
// AND/OR/NOT; a filter matches only if it evaluates to TRUE. Comparisons,
// arithmetic and LIKE with a NULL operand are unknown. IS NULL is TRUE for
// a missing property or a NULL value; EXISTS is TRUE when the property is
// present, even with a NULL value.
//
// Operators follow C# binding rules, as Service Bus documents: int op int
// is int (wrapping on overflow), mixing int and long gives long, anything
// with a double gives double. Integer division or modulo by zero, and
// MinInt / -1, are evaluation errors; double division follows IEEE 754.
// Strings compare with = and <> only, ordinally and case-sensitively;
// + concatenates two strings. Booleans and UUIDs support = and <>.
// DateTime and TimeSpan support all comparisons, DateTime ± TimeSpan,
// DateTime - DateTime and TimeSpan ± TimeSpan. Any other combination (for
// example 'a' + 1 or 'a' = 1) is an evaluation error, reported as an
// *EvalError so the broker can tell "no match" from "filter failed" (and
// dead-letter when deadLetteringOnFilterEvaluationExceptions is set).
//
// IN compares the left operand with each list element: a match is TRUE;
// elements of an incompatible type simply do not match (no error); with no
// match, a NULL element makes the result unknown, as in SQL. LIKE works on
// strings, case-sensitively, with % (any run of characters) and _ (one
// character); ESCAPE takes a one-character string.
//
// # Actions
//
// An action is a list of SET property = expression and REMOVE property
// statements separated by ';' or ',' (a trailing ';' is allowed and
// "SET a = 1, b = 2" continues the previous verb); at most
// MaxActionStatements statements. Statements run in order and see each
// other's effects; Apply commits to the message only when every statement
// evaluated without error. SET converts implicitly (int to long or double,
// long to double) to the type of an existing user property, as Service Bus
// does; a NULL value sets the property to nil. Only the settable system
// properties (see MutableMessage) can be SET or REMOVEd; removing a system
// property sets it to nil.
//
// Filters and actions are immutable after parsing and safe for concurrent
// use.
package sqlfilter
