// <textbook-chat>: the reader's chat panel, in a Shadow DOM so the book's CSS and ours never meet.
import {ChatApi, ServiceError} from './api.js';
import {extraRequestFields, parseShortcut} from './config.js';
import {icon} from './icons.js';
import {createRenderer} from './markdown.js';
import {ConversationStore} from './store.js';

const OPEN_KEY = 'textbook-chat:open';
const FOCUSABLE = 'button:not([disabled]), textarea:not([disabled]), input:not([disabled]), a[href], [tabindex="0"]';
const MAX_SELECTION = 10000;
const MAX_QUESTION = 500;

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === 'text') el.textContent = value;
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children) if (child) el.append(child);
  return el;
}

function fill(template, values) {
  return template.replace(/\{(\w)\}/g, (_, k) => String(values[k] ?? ''));
}

export class TextbookChat extends HTMLElement {
  configure(config, cssUrl) {
    this.config = config;
    this.cssUrl = cssUrl;
    return this;
  }

  connectedCallback() {
    if (this.root) return;
    const config = this.config;
    const L = config.labels;
    this.labels = L;
    this.api = new ChatApi(config.apiUrl);
    this.store = new ConversationStore(window.localStorage);
    this.render = createRenderer();
    this.selection = null; // {text, pageUrl}
    this.streaming = null; // {controller, message, el}
    this.retryTimer = null;
    this.matchesShortcut = parseShortcut(config.shortcut);

    this.root = this.attachShadow({mode: 'open'});
    const css = h('link', {rel: 'stylesheet', href: this.cssUrl});
    css.addEventListener('load', () => this.setAttribute('data-ready', ''));
    css.addEventListener('error', () => this.setAttribute('data-ready', ''));

    this.launcher = h('button', {
      class: 'launcher', type: 'button', 'aria-haspopup': 'dialog', 'aria-expanded': 'false',
      'aria-label': `${L.open} (${config.shortcut})`, title: `${L.open} (${config.shortcut})`,
      onclick: () => this.open(),
    }, icon('chat', 20), h('span', {text: L.open}));

    this.askButton = h('button', {
      class: 'ask-selection', type: 'button', hidden: true,
      onmousedown: (e) => e.preventDefault(), // keep the page's selection
      onclick: () => this.askAboutSelection(),
    }, L.askSelection);

    this.titleEl = h('h2', {id: 'tc-title', class: 'title', text: L.title});
    this.listButton = h('button', {
      class: 'icon', type: 'button', 'aria-label': L.conversations, title: L.conversations,
      'aria-expanded': 'false', onclick: () => this.toggleList(),
    }, icon('list'));
    this.newButton = h('button', {
      class: 'icon', type: 'button', 'aria-label': L.newConversation, title: L.newConversation,
      onclick: () => this.newConversation(),
    }, icon('plus'));
    this.closeButton = h('button', {
      class: 'icon', type: 'button', 'aria-label': L.close, title: L.close,
      onclick: () => this.close(),
    }, icon('close'));

    this.log = h('div', {class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': L.title, tabindex: '0'});
    this.listView = h('div', {class: 'conversations', hidden: true, role: 'region', 'aria-label': L.conversations});
    this.status = h('p', {class: 'status', role: 'status', 'aria-live': 'polite'});

    this.selectionText = h('blockquote', {class: 'selection-text'});
    this.selectionOnly = h('input', {type: 'checkbox', id: 'tc-selection-only'});
    this.selectionBox = h('div', {class: 'selection', hidden: true, role: 'group', 'aria-label': L.selection},
      h('div', {class: 'selection-head'},
        h('span', {text: L.selection}),
        h('button', {class: 'icon small', type: 'button', 'aria-label': L.clearSelection,
          title: L.clearSelection, onclick: () => this.setSelection(null)}, icon('close', 14))),
      this.selectionText,
      h('label', {class: 'selection-only', for: 'tc-selection-only'}, this.selectionOnly, h('span', {text: L.selectionOnly})));

    this.input = h('textarea', {
      id: 'tc-input', rows: '2', maxlength: String(MAX_QUESTION), placeholder: L.placeholder,
      'aria-label': L.input,
      oninput: () => { this.store.draft = this.input.value; },
      onkeydown: (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          this.send();
        }
      },
    });
    this.sendButton = h('button', {class: 'send', type: 'submit', 'aria-label': L.send}, L.send);
    this.stopButton = h('button', {class: 'stop', type: 'button', hidden: true, 'aria-label': L.stop,
      onclick: () => this.stop()}, L.stop);
    this.form = h('form', {class: 'composer', onsubmit: (e) => { e.preventDefault(); this.send(); }},
      h('label', {class: 'visually-hidden', for: 'tc-input', text: L.input}), this.input, this.sendButton, this.stopButton);

    this.panel = h('div', {
      class: 'panel', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'tc-title', hidden: true,
      onkeydown: (e) => this.onPanelKey(e),
    },
    h('header', {}, this.titleEl, h('div', {class: 'tools'}, this.listButton, this.newButton, this.closeButton)),
    this.listView, this.log, this.status, this.selectionBox, this.form);

    this.root.append(css, this.launcher, this.askButton, this.panel);

    this.input.value = this.store.draft;
    this.recoverInterrupted();
    this.renderLog();
    this.followTheme();
    document.addEventListener('keydown', (e) => this.onDocumentKey(e), true);
    if (config.selectionButton !== false) {
      document.addEventListener('selectionchange', () => this.onSelectionChange());
      window.addEventListener('scroll', () => this.hideAskButton(), {passive: true});
    }
    try {
      if (window.sessionStorage.getItem(OPEN_KEY) === '1') this.open({focus: false});
    } catch {
      // storage blocked
    }
  }

  // ---- opening, closing, keyboard ----

  open({focus = true} = {}) {
    this.panel.hidden = false;
    this.launcher.setAttribute('aria-expanded', 'true');
    this.launcher.hidden = true;
    this.setAttribute('data-open', '');
    this.remember(true);
    this.renderLog();
    if (focus) this.input.focus();
  }

  close() {
    this.panel.hidden = true;
    this.launcher.hidden = false;
    this.launcher.setAttribute('aria-expanded', 'false');
    this.removeAttribute('data-open');
    this.remember(false);
    this.launcher.focus();
  }

  remember(open) {
    try {
      window.sessionStorage.setItem(OPEN_KEY, open ? '1' : '0');
    } catch {
      // storage blocked
    }
  }

  get isOpen() {
    return !this.panel.hidden;
  }

  onDocumentKey(event) {
    if (this.matchesShortcut(event)) {
      event.preventDefault();
      event.stopPropagation();
      if (this.isOpen) this.close();
      else this.open();
    }
  }

  onPanelKey(event) {
    if (event.key === 'Escape') {
      event.preventDefault();
      if (this.streaming) this.stop();
      else this.close();
      return;
    }
    if (event.key !== 'Tab') return;
    // Keep the focus inside the open panel (it is modal on small screens, a dialog everywhere).
    const items = [...this.panel.querySelectorAll(FOCUSABLE)].filter((el) => el.getClientRects().length > 0);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    const active = this.root.activeElement;
    if (event.shiftKey && (active === first || !this.panel.contains(active))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (active === last || !this.panel.contains(active))) {
      event.preventDefault();
      first.focus();
    }
  }

  followTheme() {
    const html = document.documentElement;
    const apply = () => this.setAttribute('data-theme', html.getAttribute('data-theme') === 'dark' ? 'dark' : 'light');
    apply();
    new MutationObserver(apply).observe(html, {attributes: true, attributeFilter: ['data-theme']});
  }

  // ---- selection ----

  onSelectionChange() {
    const selection = document.getSelection();
    const text = selection && !selection.isCollapsed ? selection.toString().trim() : '';
    if (!text || text.length < 3 || this.contains(selection.anchorNode)) {
      this.hideAskButton();
      return;
    }
    const range = selection.getRangeAt(0);
    const rect = range.getBoundingClientRect();
    if (!rect || (rect.width === 0 && rect.height === 0)) return;
    this.pendingSelection = text.slice(0, MAX_SELECTION);
    const top = rect.bottom + 8 > window.innerHeight - 40 ? rect.top - 40 : rect.bottom + 8;
    this.askButton.style.top = `${Math.max(4, top)}px`;
    this.askButton.style.left = `${Math.min(Math.max(4, rect.left), window.innerWidth - 160)}px`;
    this.askButton.hidden = false;
  }

  hideAskButton() {
    this.askButton.hidden = true;
  }

  askAboutSelection() {
    this.setSelection({text: this.pendingSelection, pageUrl: window.location.pathname});
    this.hideAskButton();
    this.open();
  }

  setSelection(selection) {
    this.selection = selection && selection.text ? selection : null;
    this.selectionBox.hidden = !this.selection;
    this.selectionText.textContent = this.selection ? this.selection.text : '';
    if (!this.selection) this.selectionOnly.checked = false;
  }

  // ---- conversations ----

  newConversation() {
    this.stop();
    this.store.startNew();
    this.setSelection(null);
    this.showList(false);
    this.say('');
    this.renderLog();
    this.input.focus();
  }

  toggleList() {
    this.showList(this.listView.hidden);
  }

  showList(show) {
    this.listView.hidden = !show;
    this.log.hidden = show;
    this.listButton.setAttribute('aria-expanded', String(show));
    if (show) this.renderList();
  }

  renderList() {
    const L = this.labels;
    const items = this.store.list();
    this.listView.replaceChildren(h('h3', {text: L.conversations}));
    if (!items.length) {
      this.listView.append(h('p', {class: 'empty', text: L.noConversations}));
      return;
    }
    const list = h('ul', {});
    for (const item of items) {
      const when = new Date(item.updated).toLocaleString();
      list.append(h('li', {class: item.id === this.store.currentId ? 'current' : ''},
        h('button', {class: 'open-conversation', type: 'button', onclick: () => this.openConversation(item.id)},
          h('span', {class: 'conversation-title', text: item.title || '…'}), h('small', {text: when})),
        h('button', {class: 'icon small delete', type: 'button', 'aria-label': `${L.deleteConversation}: ${item.title}`,
          title: L.deleteConversation, onclick: () => this.deleteConversation(item.id)}, icon('trash', 16))));
    }
    this.listView.append(list);
  }

  /** An answer that was streaming when the reader left the page: the service kept what was sent. */
  recoverInterrupted() {
    const pending = this.store.messages.filter((m) => m.pending);
    if (!pending.length) return;
    for (const message of pending) {
      message.pending = false;
      message.interrupted = true;
    }
    this.store.save();
    if (this.store.currentId) this.refresh(this.store.currentId, {retries: 5, recovering: true});
  }

  async openConversation(id) {
    this.stop();
    this.store.open(id);
    this.showList(false);
    this.renderLog();
    this.input.focus();
    await this.refresh(id);
  }

  /**
   * Load a conversation's messages from the service (the source of truth). When recovering an
   * answer the reader left mid-stream, the service may not have stored it yet: a reply shorter
   * than the local copy (or a 404 for a first exchange) is asked again, and the local copy is
   * kept if the service never catches up.
   */
  async refresh(id, {retries = 0, recovering = false} = {}) {
    const again = () => {
      if (retries > 0) setTimeout(() => this.refresh(id, {retries: retries - 1, recovering}), 1500);
    };
    try {
      const messages = await this.api.messages(id);
      const local = this.store.state.conversations[id]?.messages.length || 0;
      if (messages.length < local) {
        again();
        return;
      }
      this.store.replace(id, messages.map((m) => ({
        role: m.role, content: m.content, sources: m.sources || [], messageId: m.role === 'assistant' ? m.id : null,
        interrupted: Boolean(m.interrupted), selectedText: m.selected_text || null,
      })));
      if (this.store.currentId === id) this.renderLog();
    } catch (error) {
      if (error instanceof ServiceError && error.status === 404 && recovering) {
        again();
        return;
      }
      if (error instanceof ServiceError && error.status === 404) {
        this.store.remove(id); // deleted meanwhile (another tab)
        this.renderLog();
        return;
      }
      this.showError(error);
    }
  }

  async deleteConversation(id) {
    try {
      await this.api.remove(id);
    } catch (error) {
      if (!(error instanceof ServiceError && error.status === 404)) {
        this.showError(error);
        return;
      }
    }
    this.store.remove(id);
    this.renderList();
    this.renderLog();
    this.listView.querySelector('button')?.focus() || this.input.focus();
  }

  // ---- the log ----

  renderLog() {
    const messages = this.store.messages;
    this.log.replaceChildren();
    if (!messages.length) {
      this.log.append(this.starters());
      return;
    }
    for (const message of messages) this.log.append(this.messageEl(message));
    this.log.scrollTop = this.log.scrollHeight;
  }

  starters() {
    const questions = this.config.starterQuestions;
    const box = h('div', {class: 'starters'});
    if (!questions.length) return box;
    box.append(h('p', {text: this.labels.starters}));
    for (const question of questions) {
      box.append(h('button', {class: 'starter', type: 'button', onclick: () => {
        this.input.value = question;
        this.send();
      }}, question));
    }
    return box;
  }

  messageEl(message) {
    const L = this.labels;
    if (message.role === 'user') {
      return h('div', {class: 'message user'},
        message.selectedText ? h('blockquote', {class: 'quoted', text: message.selectedText.slice(0, 300)}) : null,
        h('p', {text: message.content}));
    }
    const body = h('div', {class: 'answer'});
    body.innerHTML = this.render(message.content, message.sources);
    const el = h('div', {class: 'message assistant'}, body);
    if (message.interrupted) el.append(h('p', {class: 'note', text: message.stopped ? L.stopped : L.interrupted}));
    if (message.messageId && !message.pending) el.append(this.actions(message));
    el.addEventListener('click', (event) => {
      const link = event.target.closest?.('a.cite');
      if (link && window.matchMedia('(max-width: 767px)').matches) this.remember(false);
    });
    return el;
  }

  actions(message) {
    const L = this.labels;
    const status = h('span', {class: 'action-status', role: 'status'});
    const up = h('button', {class: 'icon small', type: 'button', 'aria-label': L.helpful, title: L.helpful,
      'aria-pressed': String(message.feedback === 'up')}, icon('up', 16));
    const down = h('button', {class: 'icon small', type: 'button', 'aria-label': L.notHelpful, title: L.notHelpful,
      'aria-pressed': String(message.feedback === 'down')}, icon('down', 16));
    const comment = h('textarea', {class: 'comment', rows: '2', maxlength: '1000', 'aria-label': L.comment, placeholder: L.comment});
    const sendComment = h('button', {class: 'small', type: 'submit'}, L.sendComment);
    const commentForm = h('form', {class: 'comment-form', hidden: true, onsubmit: async (e) => {
      e.preventDefault();
      if (await this.rate(message, message.feedback, comment.value.trim(), status)) commentForm.hidden = true;
    }}, comment, sendComment);
    const rateWith = (rating) => async () => {
      if (await this.rate(message, rating, '', status)) {
        up.setAttribute('aria-pressed', String(rating === 'up'));
        down.setAttribute('aria-pressed', String(rating === 'down'));
        commentForm.hidden = false;
      }
    };
    up.addEventListener('click', rateWith('up'));
    down.addEventListener('click', rateWith('down'));
    const copy = h('button', {class: 'icon small', type: 'button', 'aria-label': L.copy, title: L.copy, onclick: async () => {
      try {
        await navigator.clipboard.writeText(message.content);
        status.textContent = L.copied;
      } catch {
        status.textContent = '';
      }
    }}, icon('copy', 16));
    return h('div', {class: 'actions-wrap'}, h('div', {class: 'actions'}, copy, up, down, status), commentForm);
  }

  async rate(message, rating, comment, status) {
    try {
      await this.api.feedback(message.messageId, rating, comment);
      message.feedback = rating;
      this.store.save();
      status.textContent = this.labels.thanks;
      return true;
    } catch (error) {
      this.showError(error);
      return false;
    }
  }

  // ---- asking ----

  async send() {
    const question = this.input.value.trim();
    if (!question || this.streaming || this.retryTimer) return;
    this.showList(false);
    this.say('');
    const selection = this.selection;
    const user = {role: 'user', content: question, selectedText: selection?.text || null};
    const answer = {role: 'assistant', content: '', sources: [], messageId: null, pending: true};
    const firstQuestion = !this.store.currentId;
    this.store.push(user);
    this.store.push(answer);
    this.input.value = '';
    this.store.draft = '';
    this.renderLog();
    const answerEl = this.log.lastElementChild;
    const body = answerEl.querySelector('.answer');
    answerEl.setAttribute('aria-busy', 'true');
    body.textContent = this.labels.thinking;

    const controller = new AbortController();
    this.streaming = {controller, message: answer};
    this.sendButton.hidden = true;
    this.stopButton.hidden = false;

    const request = {
      question,
      session_id: this.store.currentId,
      page_url: window.location.pathname,
      ...extraRequestFields(document, this.config),
    };
    if (selection) {
      request.selected_text = selection.text;
      request.selection_only = this.selectionOnly.checked;
      request.page_url = selection.pageUrl;
    }

    let frame = 0;
    const paint = () => {
      frame = 0;
      body.innerHTML = this.render(answer.content, answer.sources);
      this.log.scrollTop = this.log.scrollHeight;
    };
    let started = false;
    try {
      await this.api.stream(request, (event, data) => {
        if (event === 'meta') {
          started = true;
          if (firstQuestion) this.store.adopt(data.session_id, question);
          answer.messageId = data.message_id;
          this.setSelection(null);
        } else if (event === 'sources') {
          answer.sources = data.sources || [];
        } else if (event === 'token') {
          answer.content += data.text || '';
          if (!frame) frame = requestAnimationFrame(paint);
        } else if (event === 'done') {
          answer.content = data.answer;
          answer.sources = data.sources || [];
          answer.messageId = data.message_id;
          answer.pending = false;
        } else if (event === 'error') {
          answer.pending = false;
          answer.failed = true;
          this.say(fill(this.labels.failed, {m: data.message || ''}));
        }
      }, controller.signal);
    } catch (error) {
      if (error?.name === 'AbortError') {
        answer.interrupted = true;
        answer.stopped = true;
      } else if (!started) {
        // The service did not take the question: take it back into the composer.
        this.store.dropLast(answer);
        this.store.dropLast(user);
        this.input.value = question;
        this.store.draft = question;
        if (selection) this.setSelection(selection);
        this.showError(error);
      } else {
        answer.interrupted = true;
        this.showError(error);
      }
    } finally {
      if (frame) cancelAnimationFrame(frame);
      answer.pending = false;
      this.streaming = null;
      this.sendButton.hidden = false;
      this.stopButton.hidden = true;
      this.store.save();
      this.renderLog();
      const last = this.log.lastElementChild;
      last?.removeAttribute('aria-busy');
    }
  }

  stop() {
    if (this.streaming) this.streaming.controller.abort();
  }

  say(text) {
    this.status.textContent = text;
    this.status.hidden = !text;
  }

  showError(error) {
    const L = this.labels;
    if (!(error instanceof ServiceError)) {
      this.say(fill(L.failed, {m: String(error?.message || error)}));
      return;
    }
    if (error.kind === 'rate_limited') {
      this.countDown(Math.max(1, error.retryAfter || 60));
    } else if (error.kind === 'unavailable') {
      this.say(L.unavailable);
    } else if (error.kind === 'offline') {
      this.say(L.offline);
    } else if (error.kind === 'invalid_session') {
      this.store.startNew();
      this.say(L.expired);
    } else {
      this.say(fill(L.failed, {m: error.message}));
    }
  }

  countDown(seconds) {
    clearInterval(this.retryTimer);
    let left = seconds;
    this.sendButton.disabled = true;
    this.say(fill(this.labels.rateLimited, {s: left}));
    this.retryTimer = setInterval(() => {
      left -= 1;
      if (left > 0) {
        this.status.textContent = fill(this.labels.rateLimited, {s: left});
        return;
      }
      clearInterval(this.retryTimer);
      this.retryTimer = null;
      this.sendButton.disabled = false;
      this.say(this.labels.rateLimitedNow);
    }, 1000);
  }
}
