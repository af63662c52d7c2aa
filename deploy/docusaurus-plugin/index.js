// @ts-check
/**
 * Docusaurus plugin: loads the textbook service's chat widget (`<apiUrl>/widget.js`) on every page.
 *
 * Options (all but apiUrl optional):
 *   apiUrl          the service's origin, e.g. "https://api.book.example.org" (required)
 *   widgetVersion   pin the widget version the service reports in `X-Widget-Version`; the script
 *                   and stylesheet are then cached as immutable (otherwise for 5 minutes + ETag)
 *   shortcut        keyboard shortcut that opens the panel (default "Ctrl+/"; "Alt+Shift+C"...)
 *   title, buttonLabel, placeholder, starterQuestions, labels   texts of the panel
 *   selectionButton show "Ask about this" next to a selection (default true)
 *   sendVersionAndLocale  send the page's docusaurus_version/docusaurus_locale with each question
 *                   (default true; the service answers 400 for a version or locale it has not indexed)
 */

const DEFAULTS = {
  shortcut: 'Ctrl+/',
  selectionButton: true,
  sendVersionAndLocale: true,
};

const OPTION_TYPES = {
  apiUrl: 'string',
  widgetVersion: 'string',
  shortcut: 'string',
  title: 'string',
  buttonLabel: 'string',
  placeholder: 'string',
  starterQuestions: 'object',
  labels: 'object',
  selectionButton: 'boolean',
  sendVersionAndLocale: 'boolean',
};

/**
 * @param {Record<string, unknown>} options
 * @returns {Record<string, unknown>}
 */
function checkOptions(options) {
  for (const [name, value] of Object.entries(options)) {
    if (name === 'id') continue;
    const type = OPTION_TYPES[name];
    if (!type) throw new Error(`docusaurus-plugin-textbook-chat: unknown option "${name}"`);
    if (typeof value !== type || value === null) {
      throw new Error(`docusaurus-plugin-textbook-chat: option "${name}" must be a ${type}`);
    }
  }
  const apiUrl = options.apiUrl;
  if (typeof apiUrl !== 'string' || !/^https?:\/\/[^/]+/.test(apiUrl)) {
    throw new Error(
      'docusaurus-plugin-textbook-chat: "apiUrl" must be the service origin, e.g. https://api.example.org',
    );
  }
  return {...DEFAULTS, ...options, apiUrl: apiUrl.replace(/\/+$/, '')};
}

/** JSON for a <script type="application/json"> data block: "<" escaped so it cannot close it. */
function dataBlock(value) {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

/**
 * @param {unknown} _context
 * @param {Record<string, unknown>} rawOptions
 */
module.exports = function textbookChatPlugin(_context, rawOptions) {
  const {id: _id, apiUrl, widgetVersion, ...widget} = checkOptions(rawOptions || {});
  const query = widgetVersion ? `?v=${encodeURIComponent(String(widgetVersion))}` : '';
  return {
    name: 'docusaurus-plugin-textbook-chat',
    injectHtmlTags() {
      return {
        headTags: [
          {tagName: 'link', attributes: {rel: 'preconnect', href: apiUrl, crossorigin: 'anonymous'}},
          {
            tagName: 'script',
            attributes: {type: 'application/json', id: 'textbook-chat-config'},
            innerHTML: dataBlock({apiUrl, ...widget}),
          },
          {tagName: 'script', attributes: {src: `${apiUrl}/widget.js${query}`, defer: true}},
        ],
      };
    },
  };
};

module.exports.validateOptions = ({options}) => checkOptions(options || {});
