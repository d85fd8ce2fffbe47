// The package's types as users get them: a small consumer compiled with
// tsc --noEmit under nodenext and bundler resolution, importing 'reaper-init'
// from a node_modules link to this work tree (its dist/*.d.ts); and every type
// an exported signature uses is itself exported.
import t from 'tap';
import ts from 'typescript';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, ROOT, run } from './harness/index.js';

const project = mkdtempSync(join(tmpdir(), 'reaper-types-consumer-'));
t.teardown(() => rmSync(project, { recursive: true, force: true }));
writeFileSync(join(project, 'package.json'), '{ "name": "consumer", "private": true, "type": "module" }\n');
for (const name of ['consumer.ts', 'tsconfig.nodenext.json', 'tsconfig.bundler.json']) copyFileSync(fixture(`types-consumer/${name}`), join(project, name));
mkdirSync(join(project, 'node_modules', '@types'), { recursive: true });
symlinkSync(ROOT, join(project, 'node_modules', 'reaper-init'));
symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(project, 'node_modules', '@types', 'node'));

for (const resolution of ['nodenext', 'bundler']) {
  t.test(`a consumer compiles with moduleResolution ${resolution}`, async (t) => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const done = await run([process.execPath, tsc, '-p', `tsconfig.${resolution}.json`], { pid1: false, cwd: project }).finished;
    t.equal(done.code, 0, `tsc --noEmit: ${done.stdout}${done.stderr}`.trim());
  });
}

t.test('every type used in an exported signature is exported', async (t) => {
  const entry = join(ROOT, 'dist', 'index.d.ts');
  const program = ts.createProgram([entry], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, types: ['node'], noEmit: true });
  const checker = program.getTypeChecker();
  const resolve = (symbol: ts.Symbol) => (symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol);
  const exported = new Set(checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(entry)!)!).map(resolve));
  const ours = (declaration: ts.Declaration) => declaration.getSourceFile().fileName.startsWith(join(ROOT, 'dist'));
  // Walks each exported declaration, and what it refers to in turn.
  const missing = new Map<string, string>();
  const seen = new Set<ts.Symbol>();
  const visit = (symbol: ts.Symbol, from: string) => {
    if (seen.has(symbol)) return;
    seen.add(symbol);
    for (const declaration of symbol.declarations ?? []) {
      if (!ours(declaration)) continue;
      const walk = (node: ts.Node) => {
        if (ts.isTypeReferenceNode(node) || ts.isExpressionWithTypeArguments(node)) {
          const name = ts.isTypeReferenceNode(node) ? node.typeName : node.expression;
          const target = checker.getSymbolAtLocation(name);
          const referenced = target && resolve(target);
          if (referenced && (referenced.flags & ts.SymbolFlags.TypeParameter) === 0 && referenced.declarations?.some(ours)) {
            if (!exported.has(referenced)) missing.set(referenced.getName(), from);
            visit(referenced, referenced.getName());
          }
        }
        ts.forEachChild(node, walk);
      };
      walk(declaration);
    }
  };
  for (const symbol of exported) visit(symbol, symbol.getName());
  t.ok(exported.size > 10, `${exported.size} exports checked`);
  t.same(Object.fromEntries(missing), {}, 'types used by exported declarations but not exported (name: used by)');
});
