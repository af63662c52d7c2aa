// @ts-check
// The sample book (../../../sample_book) as a Docusaurus site with the chat widget, for the browser
// tests. TEXTBOOK_CHAT_API_URL is the service the widget talks to (the tests start one on loopback).

const apiUrl = process.env.TEXTBOOK_CHAT_API_URL || 'http://127.0.0.1:8000';

/** @type {import('@docusaurus/types').Config} */
const config = {
  title: 'Embodied Intelligence',
  favicon: 'img/favicon.svg',
  url: 'http://127.0.0.1',
  baseUrl: '/',
  trailingSlash: undefined,
  onBrokenLinks: 'ignore',
  markdown: {format: 'detect', hooks: {onBrokenMarkdownLinks: 'ignore', onBrokenMarkdownImages: 'ignore'}},
  future: {v4: true, faster: true},
  i18n: {defaultLocale: 'en', locales: ['en']},
  presets: [
    [
      'classic',
      /** @type {import('@docusaurus/preset-classic').Options} */
      ({
        docs: {path: '../../../sample_book/docs', routeBasePath: '/docs', sidebarPath: './sidebars.js'},
        blog: false,
        pages: false,
      }),
    ],
  ],
  themeConfig: {
    navbar: {title: 'Embodied Intelligence', items: [{type: 'docSidebar', sidebarId: 'book', label: 'Book'}]},
    colorMode: {respectPrefersColorScheme: false},
  },
  // The three lines a book adds (README): the plugin and the service's URL.
  plugins: [
    [
      'docusaurus-plugin-textbook-chat',
      {
        apiUrl,
        starterQuestions: ['What is the zero moment point?', 'How do ROS 2 topics work?'],
      },
    ],
  ],
};

module.exports = config;
