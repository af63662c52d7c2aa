// Entry point of widget.js: define <textbook-chat> and add one to the page.
import {readConfig} from './config.js';
import {TextbookChat} from './element.js';

const script = document.currentScript;
const scriptSrc = script && script.src ? script.src : '';

function stylesheetUrl(src) {
  if (!src) return '';
  const url = new URL(src);
  url.pathname = url.pathname.replace(/widget\.js$/, 'widget.css');
  return url.href; // keeps ?v=, so the stylesheet is cached as long as the script
}

function mount() {
  if (document.querySelector('textbook-chat')) return;
  const config = readConfig(document, scriptSrc);
  if (!config.apiUrl) return;
  const element = document.createElement('textbook-chat');
  element.configure(config, stylesheetUrl(scriptSrc) || `${config.apiUrl}/widget.css`);
  document.body.append(element);
  window.dispatchEvent(new CustomEvent('textbook-chat:ready', {detail: {element}}));
}

if (!customElements.get('textbook-chat')) {
  customElements.define('textbook-chat', TextbookChat);
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', mount, {once: true});
  else mount();
}
