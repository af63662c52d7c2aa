// The widget's settings: the plugin's JSON data block (#textbook-chat-config) over these defaults.

export const DEFAULT_LABELS = {
  open: 'Ask the book',
  title: 'Ask the book',
  close: 'Close chat',
  newConversation: 'New conversation',
  conversations: 'Earlier conversations',
  noConversations: 'No earlier conversations in this browser.',
  back: 'Back to the conversation',
  deleteConversation: 'Delete conversation',
  input: 'Your question',
  placeholder: 'Ask a question about the book…',
  send: 'Send',
  stop: 'Stop answering',
  askSelection: 'Ask about this',
  selection: 'About the selected passage',
  selectionOnly: 'Answer only from the selection',
  clearSelection: 'Remove the selection',
  copy: 'Copy answer',
  copied: 'Copied',
  helpful: 'Helpful',
  notHelpful: 'Not helpful',
  comment: 'Comment (optional)',
  sendComment: 'Send comment',
  thanks: 'Thank you for the feedback.',
  stopped: 'Stopped.',
  interrupted: 'This answer was interrupted.',
  thinking: 'Thinking…',
  starters: 'Try asking',
  rateLimited: 'Too many questions right now. You can ask again in {s} s.',
  rateLimitedNow: 'You can ask again now.',
  unavailable: 'The service is unavailable right now. Your question is kept; please try again in a moment.',
  offline: 'No connection to the service. Your question is kept; try again when you are online.',
  expired: 'This conversation has expired; your question will start a new one.',
  failed: 'Something went wrong: {m}',
};

export const DEFAULTS = {
  apiUrl: '',
  shortcut: 'Ctrl+/',
  title: '',
  buttonLabel: '',
  placeholder: '',
  starterQuestions: [],
  selectionButton: true,
  sendVersionAndLocale: false,
  labels: {},
};

export function readConfig(doc, scriptSrc) {
  let fromPage = {};
  const block = doc.getElementById('textbook-chat-config');
  if (block) {
    try {
      fromPage = JSON.parse(block.textContent || '{}');
    } catch {
      fromPage = {};
    }
  }
  const config = {...DEFAULTS, ...fromPage};
  if (!config.apiUrl && scriptSrc) config.apiUrl = new URL(scriptSrc).origin;
  const labels = {...DEFAULT_LABELS, ...(config.labels || {})};
  if (config.title) labels.title = config.title;
  if (config.buttonLabel) labels.open = config.buttonLabel;
  if (config.placeholder) labels.placeholder = config.placeholder;
  config.labels = labels;
  config.starterQuestions = Array.isArray(config.starterQuestions)
    ? config.starterQuestions.filter((q) => typeof q === 'string').slice(0, 6)
    : [];
  return config;
}

/** "Ctrl+Shift+K" -> a predicate on keydown events. */
export function parseShortcut(text) {
  const parts = String(text || '').split('+').map((p) => p.trim().toLowerCase()).filter(Boolean);
  if (!parts.length) return () => false;
  const key = parts.pop();
  const want = {ctrl: false, alt: false, shift: false, meta: false};
  for (const p of parts) {
    if (p === 'ctrl' || p === 'control') want.ctrl = true;
    else if (p === 'alt' || p === 'option') want.alt = true;
    else if (p === 'shift') want.shift = true;
    else if (p === 'meta' || p === 'cmd') want.meta = true;
  }
  return (event) =>
    event.ctrlKey === want.ctrl &&
    event.altKey === want.alt &&
    event.metaKey === want.meta &&
    (event.shiftKey === want.shift || key.length === 1 && !/[a-z0-9]/.test(key)) &&
    (event.key.toLowerCase() === key || event.code.toLowerCase() === `key${key}`);
}

/**
 * Extra fields of each question from the page's Docusaurus meta tags (docusaurus_version,
 * docusaurus_locale). Off unless the plugin's sendVersionAndLocale is set, for a service whose
 * ChatRequest accepts `version` and `locale`.
 */
export function extraRequestFields(doc, config) {
  if (!config.sendVersionAndLocale) return {};
  const meta = (name) => doc.querySelector(`meta[name="${name}"]`)?.getAttribute('content') || '';
  const fields = {};
  const version = meta('docusaurus_version');
  const locale = meta('docusaurus_locale');
  if (version) fields.version = version;
  if (locale) fields.locale = locale;
  return fields;
}
