import assert from 'node:assert/strict';
import {test} from 'node:test';
import {citationHref, createRenderer, textFragment} from '../src/markdown.js';

const render = createRenderer();
const SOURCES = [
  {index: 1, title: 'Balance', section: 'Zero moment point', url: '/docs/humanoids/balance#zmp',
   snippet: 'The **zero moment point** (ZMP) is where the net moment is zero. More text.'},
];

test('a citation becomes a link to the route, anchor and a text fragment', () => {
  const html = render('The ZMP [1] matters [2].', SOURCES);
  assert.match(html, /<a class="cite" href="\/docs\/humanoids\/balance#zmp:~:text=The%20zero%20moment%20point%20ZMP%20is%20where%20the"/);
  assert.match(html, /matters \[2\]\./); // no such source: left as text
});

test('HTML in an answer is shown as text, never parsed', () => {
  const html = render('<img src=x onerror=alert(1)> <script>x</script>', []);
  assert.ok(!html.includes('<img'));
  assert.ok(!html.includes('<script'));
  assert.match(html, /&lt;img/);
});

test('code blocks are kept', () => {
  const html = render('```python\nprint("[1]")\n```', SOURCES);
  assert.match(html, /<pre><code class="language-python">print\(&quot;\[1\]&quot;\)/);
});

test('javascript: links are not rendered as links', () => {
  assert.ok(!render('[x](javascript:alert(1))', []).includes('href'));
});

test('a text fragment escapes dashes and keeps to the first sentence', () => {
  assert.equal(textFragment('Sim-to-real gap: models differ.'), 'Sim%2Dto%2Dreal%20gap%3A');
  assert.equal(citationHref({url: '/docs/a', snippet: ''}), '/docs/a');
  assert.equal(citationHref({url: 'javascript:alert(1)', snippet: 'a b'}), null);
});
