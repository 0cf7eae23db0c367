// Bundles the web UI (ui/) into dist/public/: assets/app-HASH.js and assets/app-HASH.css, and an
// index.html naming them. Type checking is `tsc -p ui/tsconfig.json` (npm run build runs both);
// esbuild only strips types. The server (src/server/ui.ts) serves dist/public/.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';

const out = 'dist/public';
fs.rmSync(out, { recursive: true, force: true });
const result = await build({
  entryPoints: { app: 'ui/main.tsx' },
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox115', 'safari16'],
  minify: true,
  sourcemap: 'linked',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: path.join(out, 'assets'),
  entryNames: '[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).map((f) => path.basename(f));
const js = outputs.find((f) => f.endsWith('.js'));
const css = outputs.find((f) => f.endsWith('.css'));
if (!js || !css) throw new Error(`build-ui: expected a .js and a .css output, got ${outputs.join(', ')}`);
const html = fs
  .readFileSync('ui/index.html', 'utf8')
  .replace('%APP_JS%', `/assets/${js}`)
  .replace('%APP_CSS%', `/assets/${css}`);
fs.writeFileSync(path.join(out, 'index.html'), html);
