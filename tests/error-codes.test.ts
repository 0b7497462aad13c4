/**
 * One typed list of error codes: every code the runtime can produce or hand a user is a member of
 * `ErrorCode`, every member is produced somewhere, and README.md's "Error codes" table lists
 * exactly the members.
 *
 * The runtime's sources are read and parsed in-process with TypeScript's own parser, so comments,
 * strings and line breaks inside a call cannot hide a code or invent one. A code is found where:
 * - a class whose constructor takes a `code` (LuanetError, RPCError, any subclass that passes one
 *   on) is constructed: `new RPCError("timeout", ...)`;
 * - a subclass of one hands its parent a code: `super("protocol", message)`;
 * - a function with a `code: string` parameter is called, in its own file or one importing it:
 *   `replyError(conn, id, "overloaded", ...)`, the tools' `fail("bad_json", ...)`;
 * - `ErrorCode.x` is used, a `.code` is compared with a lower-case literal, or an object literal
 *   has `code: "lower_case"` (upper-case codes there are Node's, such as "EADDRINUSE").
 * In such a place each literal the expression can give counts (both arms of `a ? "x" : "y"`,
 * `code ?? "remote_error"`, a file-level `const`); a code assembled at run time from a template
 * is refused, since no list could hold it. Codes that only pass through (an ERROR frame's own
 * code, a handler's LuanetError) are not literals and are not checked: they are `AnyCode`.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import ts from "typescript";
import { ErrorCode } from "../runtime/errors.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const members = new Set<string>(Object.values(ErrorCode));

interface Site {
  /** `file:line` */
  where: string;
  /** What produced it: `new RPCError`, `super`, `replyError()`, `ErrorCode.x`, `.code ===`... */
  how: string;
  code: string;
}

interface Scan {
  sites: Site[];
  /** Codes built at run time from a template: `new RPCError(\`${x}_failed\`, ...)`. */
  built: string[];
}

/** The index of a parameter named `code` that takes text (not `code: number`), or -1. */
function codeParam(params: ts.NodeArray<ts.ParameterDeclaration>): number {
  return params.findIndex((p) => ts.isIdentifier(p.name) && p.name.text === "code" && (p.type === undefined || /\b(string|AnyCode|ErrorCode)\b/.test(p.type.getText())));
}

/** Functions with a code parameter: the declaring file's name -> index, reached from `file`. */
type Functions = Map<string, number>;

/** Scan `sources` (path -> text; paths are used as given, and to resolve relative imports). */
function scan(sources: Map<string, string>): Scan {
  const files = [...sources].map(([path, text]) => ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true));
  const walk = (node: ts.Node, visit: (n: ts.Node) => void) => {
    visit(node);
    node.forEachChild((child) => walk(child, visit));
  };

  // Classes that take a code, and at which argument: LuanetError and RPCError by their own
  // constructors, a subclass without a constructor by its parent's (to a fixed point: parents may
  // be declared in a later file). Parents of every class, for `super(...)`.
  const parentOf = new Map<string, string>();
  const ownCtor = new Map<string, number | null>(); // null: no constructor of its own
  for (const file of files) {
    walk(file, (n) => {
      if (!ts.isClassDeclaration(n) || n.name === undefined) return;
      const parent = n.heritageClauses?.find((h) => h.token === ts.SyntaxKind.ExtendsKeyword)?.types[0]?.expression;
      if (parent !== undefined && ts.isIdentifier(parent)) parentOf.set(n.name.text, parent.text);
      const ctor = n.members.find(ts.isConstructorDeclaration);
      ownCtor.set(n.name.text, ctor === undefined ? null : codeParam(ctor.parameters));
    });
  }
  const classes = new Map<string, number>();
  for (let grew = true; grew;) {
    grew = false;
    for (const [name, own] of ownCtor) {
      const parent = parentOf.get(name);
      const index = own ?? (parent === undefined ? undefined : classes.get(parent));
      if (index !== undefined && index >= 0 && !classes.has(name)) grew = classes.set(name, index) !== undefined;
    }
  }

  // Functions with a code parameter, by file; then each file's view, its imports included.
  const declared = new Map<string, Functions>();
  for (const file of files) {
    const fns: Functions = new Map();
    walk(file, (n) => {
      if (ts.isFunctionDeclaration(n) && n.name !== undefined && codeParam(n.parameters) >= 0) fns.set(n.name.text, codeParam(n.parameters));
      // A method with a code parameter, called as this.name(...) in its class's file.
      if (ts.isMethodDeclaration(n) && ts.isIdentifier(n.name) && codeParam(n.parameters) >= 0) fns.set(`this.${n.name.text}`, codeParam(n.parameters));
      if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.initializer !== undefined && (ts.isArrowFunction(n.initializer) || ts.isFunctionExpression(n.initializer))) {
        const index = codeParam(n.initializer.parameters);
        if (index >= 0) fns.set(n.name.text, index);
      }
    });
    declared.set(file.fileName, fns);
  }
  const functionsOf = (file: ts.SourceFile): Functions => {
    const fns = new Map(declared.get(file.fileName));
    for (const statement of file.statements) {
      if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier) || !statement.moduleSpecifier.text.startsWith(".")) continue;
      const from = declared.get(resolve(dirname(file.fileName), statement.moduleSpecifier.text).replace(/\.js$/, ".ts"));
      const named = statement.importClause?.namedBindings;
      if (from === undefined || named === undefined || !ts.isNamedImports(named)) continue;
      for (const spec of named.elements) {
        const index = from.get((spec.propertyName ?? spec.name).text);
        if (index !== undefined) fns.set(spec.name.text, index);
      }
    }
    return fns;
  };

  const sites: Site[] = [];
  const built: string[] = [];
  for (const file of files) {
    const fns = functionsOf(file);
    const consts = new Map<string, ts.Expression>();
    walk(file, (n) => {
      if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.initializer !== undefined && (ts.getCombinedNodeFlags(n) & ts.NodeFlags.Const) !== 0) consts.set(n.name.text, n.initializer);
    });
    const where = (n: ts.Node) => `${relative(root, file.fileName) || file.fileName}:${file.getLineAndCharacterOfPosition(n.getStart()).line + 1}`;
    const add = (n: ts.Node, how: string, code: string): void => {
      sites.push({ where: where(n), how, code });
    };
    /** Record every literal code `e` can evaluate to. `ErrorCode.x` is recorded where the walk
     * below meets it; anything else is a value known only at run time. */
    const codesOf = (e: ts.Expression, how: string, seen = new Set<string>()): void => {
      if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) add(e, how, e.text);
      else if (ts.isTemplateExpression(e)) built.push(`${where(e)} ${how}: ${e.getText()}`);
      else if (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isNonNullExpression(e) || ts.isSatisfiesExpression(e) || ts.isTypeAssertionExpression(e)) codesOf(e.expression, how, seen);
      else if (ts.isConditionalExpression(e)) for (const arm of [e.whenTrue, e.whenFalse]) codesOf(arm, how, seen);
      else if (ts.isBinaryExpression(e) && [ts.SyntaxKind.QuestionQuestionToken, ts.SyntaxKind.BarBarToken].includes(e.operatorToken.kind)) for (const side of [e.left, e.right]) codesOf(side, how, seen);
      else if (ts.isIdentifier(e) && consts.has(e.text) && !seen.has(e.text)) codesOf(consts.get(e.text)!, how, seen.add(e.text));
    };
    const argument = (args: ts.NodeArray<ts.Expression> | undefined, index: number, how: string) => {
      const arg = args?.[index];
      if (arg !== undefined) codesOf(arg, how);
    };
    walk(file, (n) => {
      if (ts.isNewExpression(n) && ts.isIdentifier(n.expression) && classes.has(n.expression.text)) {
        argument(n.arguments, classes.get(n.expression.text)!, `new ${n.expression.text}`);
      } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.SuperKeyword) {
        const cls = ts.findAncestor(n, ts.isClassDeclaration);
        const parent = cls?.name === undefined ? undefined : parentOf.get(cls.name.text);
        if (parent !== undefined && classes.has(parent)) argument(n.arguments, classes.get(parent)!, `super (${cls!.name!.text} extends ${parent})`);
      } else if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && fns.has(n.expression.text)) {
        argument(n.arguments, fns.get(n.expression.text)!, `${n.expression.text}()`);
      } else if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && n.expression.expression.kind === ts.SyntaxKind.ThisKeyword && fns.has(`this.${n.expression.name.text}`)) {
        argument(n.arguments, fns.get(`this.${n.expression.name.text}`)!, `this.${n.expression.name.text}()`);
      } else if (ts.isPropertyAccessExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === "ErrorCode") {
        add(n, "ErrorCode.x", n.name.text);
      } else if (ts.isBinaryExpression(n) && [ts.SyntaxKind.EqualsEqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsEqualsToken, ts.SyntaxKind.EqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsToken].includes(n.operatorToken.kind)) {
        for (const [a, b] of [[n.left, n.right], [n.right, n.left]] as const) {
          if (ts.isPropertyAccessExpression(a) && a.name.text === "code" && ts.isStringLiteral(b) && /^[a-z][a-z0-9_]*$/.test(b.text)) add(b, ".code ===", b.text);
        }
      } else if (ts.isPropertyAssignment(n) && ts.isIdentifier(n.name) && n.name.text === "code" && ts.isStringLiteral(n.initializer) && /^[a-z][a-z0-9_]*$/.test(n.initializer.text)) {
        add(n.initializer, "code:", n.initializer.text);
      }
    });
  }
  return { sites, built };
}

/** Every .ts file under the given folders of the repository, path -> text. */
function sourcesUnder(...folders: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const folder of folders) {
    for (const entry of readdirSync(join(root, folder), { recursive: true, encoding: "utf8" })) {
      if (entry.endsWith(".ts") && !entry.endsWith(".d.ts")) out.set(join(root, folder, entry), readFileSync(join(root, folder, entry), "utf8"));
    }
  }
  return out;
}

const unknown = (s: Scan) => s.sites.filter((site) => !members.has(site.code)).map((site) => `${site.where} ${site.how}: "${site.code}"`);

describe("the runtime's codes", () => {
  const runtime = scan(sourcesUnder("runtime", "stdlib"));

  test("every code the runtime produces is a member of ErrorCode", () => {
    assert.deepEqual(unknown(runtime), [], "add these to ErrorCode in runtime/errors.ts (with a line saying when and whether a retry helps) and to the README's table");
    assert.deepEqual(runtime.built, [], "a code must be a literal, so that ErrorCode can list it");
  });

  test("every member of ErrorCode is produced somewhere (no stale entries; the scan finds them all)", () => {
    const produced = new Set(runtime.sites.filter((site) => site.how !== ".code ===").map((site) => site.code));
    assert.deepEqual([...members].filter((code) => !produced.has(code)), []);
    // Each way of finding a code finds some in the real tree, so none of them went blind (kinds,
    // not names: the functions that take a code may be renamed).
    const kinds = new Set(runtime.sites.map((site) => (/^new |^super |^ErrorCode|^\.code/.test(site.how) ? site.how.split(" ")[0] : site.how.endsWith("()") ? "f()" : site.how)));
    for (const kind of ["new", "super", "f()", "ErrorCode.x", ".code"]) assert.ok(kinds.has(kind), `no code found by ${kind}`);
  });

  test("ErrorCode: each key is its value, with a one-line doc comment that says whether a retry helps", () => {
    for (const [key, value] of Object.entries(ErrorCode)) assert.equal(key, value);
    const path = join(root, "runtime", "errors.ts");
    const file = ts.createSourceFile(path, readFileSync(path, "utf8"), ts.ScriptTarget.Latest, true);
    const decl = file.statements.filter(ts.isVariableStatement).flatMap((s) => [...s.declarationList.declarations]).find((d) => d.name.getText() === "ErrorCode");
    let object = decl?.initializer;
    while (object !== undefined && ts.isAsExpression(object)) object = object.expression;
    assert.ok(object !== undefined && ts.isObjectLiteralExpression(object), "ErrorCode is an object literal");
    const documented = object.properties.map((p) => {
      const doc = ts.getJSDocCommentsAndTags(p).map((d) => d.getText());
      return { name: p.name!.getText(), ok: doc.length === 1 && !doc[0]!.includes("\n") && /Retry: /.test(doc[0]!) };
    });
    assert.deepEqual(documented.filter((d) => !d.ok).map((d) => d.name), []);
    assert.equal(documented.length, members.size);
  });
});

describe("the scan catches what it should, and only that", () => {
  const fixture = (text: string) => scan(new Map([[join(root, "runtime", "fixture.ts"), text]]));
  const header = `
    class LuanetError extends Error { constructor(code: AnyCode, message: string) { super(message); } }
    class RPCError extends LuanetError { constructor(code: AnyCode, message: string, stack: string | null = null) { super(code, message); } }
  `;

  test('new RPCError("brand_new", ...) fails the check', () => {
    const s = fixture(`${header}\nexport const e = new RPCError("brand_new", "a new failure");`);
    assert.deepEqual(unknown(s), ['runtime/fixture.ts:5 new RPCError: "brand_new"']);
  });

  test("wherever the code is hidden in the call", () => {
    const s = fixture(`${header}
      const C = "from_a_const";
      function replyError(conn: unknown, id: number, code: string, message: string): void {}
      function shutdown(code: number): void {}
      class Away extends RPCError { constructor(m: string) { super("from_super", m); } }
      class Plain extends LuanetError {}
      declare const x: boolean, err: { code: string }, error: { code: string };
      new RPCError(
        // a comment between
        'single_quoted', "m");
      new LuanetError(x ? "timeout" : "in_a_branch", "m");
      new LuanetError(error.code === "EADDRINUSE" ? "address_in_use" : "listen_failed", "m");
      new RPCError(C, "m");
      new RPCError(\`templated\`, "m");
      new RPCError((err.code ?? "after_nullish") as string, "m");
      new Plain("inherited_ctor", "m");
      replyError(null, 1, "in_reply_error", "m");
      if (err.code === "compared") shutdown(3);
      Object.assign(new Error("m"), { code: "in_object", errno: "EEXIST" });
      ErrorCode.made_up;
      new Away("a message, not a code");
      // new RPCError("in_a_comment", "m")
      const text = 'new RPCError("in_a_string", "m")';
      new RPCError(\`built_\${text}\`, "m");
    `);
    assert.deepEqual(unknown(s).map((line) => line.replace(/^\S+ /, "")).sort(), [
      'ErrorCode.x: "made_up"',
      '.code ===: "compared"',
      'code:: "in_object"',
      'new LuanetError: "in_a_branch"',
      'new Plain: "inherited_ctor"',
      'new RPCError: "after_nullish"',
      'new RPCError: "from_a_const"',
      'new RPCError: "single_quoted"',
      'new RPCError: "templated"',
      'replyError(): "in_reply_error"',
      'super (Away extends RPCError): "from_super"',
    ].sort());
    assert.equal(s.built.length, 1);
    assert.match(s.built[0]!, /built_/);
  });

  test("a function with a code parameter is followed into the files that import it", () => {
    const s = scan(new Map([
      [join(root, "runtime", "a.ts"), `export function fail(code: string, message: string): void {}`],
      [join(root, "runtime", "b.ts"), `import { fail as report } from "./a.js";\nreport("imported", "m");`],
      [join(root, "runtime", "c.ts"), `const fail = (error: Error) => error;\nfail(new Error("not_a_code"));`],
    ]));
    assert.deepEqual(unknown(s), ['runtime/b.ts:2 report(): "imported"']);
  });
});

describe("the documentation", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");

  test("README's Error codes table lists exactly the members of ErrorCode, once each", () => {
    const section = /^### Error codes\n([\s\S]*?)(?=^#{2,3} )/m.exec(readme);
    assert.ok(section !== null, 'README.md has a "### Error codes" section');
    const rows = section[1]!.split("\n").filter((line) => /^\| `/.test(line));
    const codes = rows.map((row) => /^\| `([^`]+)` \|/.exec(row)?.[1] ?? `(a row naming more than one code: ${row.slice(0, 60)})`);
    assert.deepEqual(codes.filter((code, i) => codes.indexOf(code) !== i), [], "no code has two rows");
    assert.deepEqual([...codes].sort(), [...members].sort());
  });

  test("README keeps the one error rule; docs/protocol.md links the table instead of repeating it", () => {
    assert.match(readme, /\*\*One error rule\.\*\* Everything that talks to the network reports failure as a value/);
    assert.match(readme, /caller's bug: they throw a `TypeError`/);
    const protocol = readFileSync(join(root, "docs", "protocol.md"), "utf8");
    assert.match(protocol, /\]\(\.\.\/README\.md#error-codes\)/);
    const tableRows = protocol.split("\n").filter((line) => /^\| `[a-z_]+` +\|/.test(line) && members.has(/`([a-z_]+)`/.exec(line)![1]!));
    assert.deepEqual(tableRows, [], "docs/protocol.md has no table of error codes of its own");
  });
});
