// The conversations of this browser, in localStorage: they follow the reader from page to page and
// survive a reload. The service holds the messages; this keeps ids, titles and a copy to show at once.

const KEY = 'textbook-chat:v1';
const MAX_CONVERSATIONS = 30;

function empty() {
  return {current: null, conversations: {}, draft: ''};
}

export class ConversationStore {
  constructor(storage) {
    this.storage = storage;
    this.state = this.load();
  }

  load() {
    try {
      const parsed = JSON.parse(this.storage.getItem(KEY) || 'null');
      if (parsed && typeof parsed === 'object' && parsed.conversations) return {...empty(), ...parsed};
    } catch {
      // unreadable or blocked storage: start afresh
    }
    return empty();
  }

  save() {
    try {
      this.storage.setItem(KEY, JSON.stringify(this.state));
    } catch {
      // storage full or blocked: the conversation still works for this page
    }
  }

  /** Messages of the open conversation ([] for a new one). */
  get messages() {
    const id = this.state.current;
    return (id && this.state.conversations[id]?.messages) || this.state.pending || [];
  }

  get currentId() {
    return this.state.current;
  }

  /** Earlier conversations, newest first. */
  list() {
    return Object.entries(this.state.conversations)
      .map(([id, c]) => ({id, title: c.title, updated: c.updated}))
      .sort((a, b) => b.updated - a.updated);
  }

  startNew() {
    this.state.current = null;
    this.state.pending = [];
    this.save();
  }

  open(id) {
    if (this.state.conversations[id]) this.state.current = id;
    this.save();
  }

  /** Append a message to the open conversation (a new one is kept as pending until it has an id). */
  push(message) {
    const id = this.state.current;
    if (id && this.state.conversations[id]) {
      this.state.conversations[id].messages.push(message);
      this.state.conversations[id].updated = Date.now();
    } else {
      this.state.pending = [...(this.state.pending || []), message];
    }
    this.save();
  }

  /** The service issued a session id for the pending conversation. */
  adopt(sessionId, title) {
    if (this.state.current === sessionId) return;
    this.state.conversations[sessionId] = {
      title: String(title || '').slice(0, 80),
      updated: Date.now(),
      messages: this.state.pending || [],
    };
    this.state.current = sessionId;
    this.state.pending = [];
    const ids = this.list().map((c) => c.id);
    for (const old of ids.slice(MAX_CONVERSATIONS)) delete this.state.conversations[old];
    this.save();
  }

  /** Replace the messages of a conversation with what the service holds. */
  replace(id, messages) {
    const conversation = this.state.conversations[id];
    if (!conversation) return;
    const rated = new Map(conversation.messages.filter((m) => m.feedback).map((m) => [m.messageId, m.feedback]));
    conversation.messages = messages.map((m) => (rated.has(m.messageId) ? {...m, feedback: rated.get(m.messageId)} : m));
    this.save();
  }

  remove(id) {
    delete this.state.conversations[id];
    if (this.state.current === id) {
      this.state.current = null;
      this.state.pending = [];
    }
    this.save();
  }

  /** Drop the last message if it is still pending (a question the service did not take). */
  dropLast(message) {
    const list = this.messages;
    if (list[list.length - 1] === message) list.pop();
    this.save();
  }

  get draft() {
    return this.state.draft || '';
  }

  set draft(text) {
    this.state.draft = text;
    this.save();
  }
}
