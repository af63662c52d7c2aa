// Build the widget into api/static/widget.js and widget.css (both committed, so serving needs no
// Node). `node build.mjs --out DIR` writes elsewhere (the test compares that build with the commit).
import {build} from 'esbuild';
import {mkdir, readFile} from 'node:fs/promises';
import {gzipSync} from 'node:zlib';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const outIndex = process.argv.indexOf('--out');
const outDir = outIndex > 0 ? path.resolve(process.argv[outIndex + 1]) : path.join(here, '..', 'api', 'static');
await mkdir(outDir, {recursive: true});

const common = {bundle: true, minify: true, legalComments: 'eof', logLevel: 'warning', charset: 'utf8'};
// markdown-it's entity decoder comes from the browser and linkify (off) from a stand-in: both
// would otherwise be most of the bundle (see src/entities-browser.js, src/linkify-off.js).
const alias = {
  entities: path.join(here, 'src', 'entities-browser.js'),
  'linkify-it': path.join(here, 'src', 'linkify-off.js'),
};
await build({
  ...common,
  entryPoints: [path.join(here, 'src', 'index.js')],
  outfile: path.join(outDir, 'widget.js'),
  format: 'iife',
  alias,
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
});
await build({
  ...common,
  entryPoints: [path.join(here, 'src', 'widget.css')],
  outfile: path.join(outDir, 'widget.css'),
  target: ['chrome100', 'firefox100', 'safari15'],
});
for (const name of ['widget.js', 'widget.css']) {
  const bytes = await readFile(path.join(outDir, name));
  const gzipped = gzipSync(bytes, {level: 9}).length;
  console.log(`${name}: ${bytes.length} bytes, ${gzipped} gzipped`);
}
console.log(`widget built into ${outDir}`);
