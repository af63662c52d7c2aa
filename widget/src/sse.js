// Server-sent events over fetch (EventSource cannot POST a body).
// The parser keeps partial lines and partial events across network reads: a frame may arrive
// split anywhere, even inside a multi-byte character (TextDecoder with stream: true).

export class SseParser {
  constructor() {
    this.buffer = '';
    this.event = '';
    this.data = [];
  }

  /** Feed decoded text; returns the complete events, each {event, data}. */
  feed(text) {
    this.buffer += text;
    const events = [];
    let start = 0;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer.slice(start));
      if (!match) break;
      const end = start + match.index;
      // A lone "\r" at the very end may be the first half of "\r\n": wait for the next read.
      if (match[0] === '\r' && end + 1 === this.buffer.length) break;
      this.line(this.buffer.slice(start, end), events);
      start = end + match[0].length;
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  line(line, events) {
    if (line === '') {
      if (this.data.length) events.push({event: this.event || 'message', data: this.data.join('\n')});
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return; // a comment: the server's keep-alive
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
  }
}

/** Read a fetch Response body as events: calls onEvent(name, parsedJson) for each. */
export async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  for (;;) {
    const {done, value} = await reader.read();
    const text = done ? decoder.decode() : decoder.decode(value, {stream: true});
    for (const {event, data} of parser.feed(text)) {
      let parsed;
      try {
        parsed = JSON.parse(data);
      } catch {
        continue; // not ours: every event of the service carries JSON
      }
      onEvent(event, parsed);
    }
    if (done) return;
  }
}
