// Answers are Markdown without HTML: markdown-it with html off renders them, and an inline rule
// turns each [n] that names a source into a link to the cited page, heading and sentence.
import MarkdownIt from 'markdown-it';

/** A text fragment (#:~:text=...) of the first words of a snippet, to highlight the sentence. */
export function textFragment(snippet) {
  const plain = String(snippet || '')
    .replace(/```[\s\S]*?(```|$)/g, ' ')
    .replace(/[`*_>#|[\]()!]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const sentence = plain.split(/(?<=[.!?:;])\s/)[0] || '';
  const words = sentence.split(' ').filter(Boolean).slice(0, 8);
  if (words.length < 2) return '';
  // Text directives reserve "-", "," and "&"; encodeURIComponent leaves "-" alone.
  return words.map((w) => encodeURIComponent(w).replace(/-/g, '%2D')).join('%20');
}

/** The link of source n: its page and #anchor, plus the text fragment of its snippet. */
export function citationHref(source) {
  const url = String(source.url || '');
  if (!/^(\/|https?:\/\/)/.test(url)) return null; // only the book's own routes
  const fragment = textFragment(source.snippet);
  if (!fragment) return url;
  return `${url}${url.includes('#') ? '' : '#'}:~:text=${fragment}`;
}

function citationRule(state, silent) {
  const src = state.src;
  const pos = state.pos;
  if (src.charCodeAt(pos) !== 0x5b /* [ */) return false;
  const match = /^\[(\d{1,3})\](?!\()/.exec(src.slice(pos));
  if (!match) return false;
  const sources = state.env.sources || [];
  const source = sources.find((s) => s.index === Number(match[1]));
  if (!source) return false;
  if (!silent) {
    const token = state.push('citation', '', 0);
    token.meta = {n: Number(match[1]), source};
  }
  state.pos += match[0].length;
  return true;
}

export function createRenderer() {
  const md = new MarkdownIt({html: false, linkify: false, breaks: false});
  md.inline.ruler.before('link', 'citation', citationRule);
  md.renderer.rules.citation = (tokens, idx) => {
    const {n, source} = tokens[idx].meta;
    const href = citationHref(source);
    const title = [source.title, source.section].filter(Boolean).join(' › ');
    const text = `[${n}]`;
    if (!href) return md.utils.escapeHtml(text);
    return (
      `<a class="cite" href="${md.utils.escapeHtml(href)}" data-cite="${n}"` +
      ` title="${md.utils.escapeHtml(title)}" aria-label="Source ${n}: ${md.utils.escapeHtml(title)}">` +
      `${text}</a>`
    );
  };
  // Links in answers stay on the book's site (the service already removes the others).
  const defaultLink = md.renderer.rules.link_open || ((t, i, o, e, s) => s.renderToken(t, i, o));
  md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
    const href = tokens[idx].attrGet('href') || '';
    if (!href.startsWith('/') && !href.startsWith('#')) tokens[idx].attrSet('rel', 'noopener nofollow');
    return defaultLink(tokens, idx, options, env, self);
  };
  return (text, sources) => md.render(String(text || ''), {sources: sources || []});
}
