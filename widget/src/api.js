// Calls to the service. Every failure becomes a ServiceError with a message for the reader.
import {readEvents} from './sse.js';

export class ServiceError extends Error {
  constructor(kind, message, {status = 0, retryAfter = 0, code = ''} = {}) {
    super(message);
    this.kind = kind; // 'rate_limited' | 'unavailable' | 'offline' | 'invalid_session' | 'error'
    this.status = status;
    this.retryAfter = retryAfter;
    this.code = code;
  }
}

async function errorFrom(response) {
  let code = '';
  let message = '';
  try {
    const body = await response.json();
    code = body?.error?.code || '';
    message = body?.error?.message || '';
  } catch {
    // not the service's JSON (a proxy's page): the status decides
  }
  const retryAfter = Number.parseInt(response.headers.get('Retry-After') || '0', 10) || 0;
  const status = response.status;
  if (status === 429) return new ServiceError('rate_limited', message, {status, retryAfter, code});
  if (status === 503 || status === 502 || status === 504) {
    return new ServiceError('unavailable', message, {status, retryAfter, code});
  }
  if (status === 400 && code === 'invalid_session') {
    return new ServiceError('invalid_session', message, {status, code});
  }
  return new ServiceError('error', message || `The service answered ${status}.`, {status, code});
}

export class ChatApi {
  constructor(apiUrl) {
    this.base = apiUrl.replace(/\/+$/, '');
  }

  async request(path, init = {}) {
    let response;
    try {
      response = await fetch(`${this.base}${path}`, {
        ...init,
        headers: {'Content-Type': 'application/json', ...(init.headers || {})},
        credentials: 'omit',
      });
    } catch (error) {
      if (error?.name === 'AbortError') throw error;
      throw new ServiceError('offline', '');
    }
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  /** Stream an answer: onEvent(name, data) for meta, sources, token, done and error. */
  async stream(body, onEvent, signal) {
    const response = await this.request('/v1/chat/stream', {
      method: 'POST',
      body: JSON.stringify(body),
      headers: {Accept: 'text/event-stream'},
      signal,
    });
    try {
      await readEvents(response, onEvent);
    } catch (error) {
      if (error?.name === 'AbortError' || signal?.aborted) throw error;
      throw new ServiceError('offline', '');
    }
  }

  async messages(sessionId) {
    const response = await this.request(`/v1/sessions/${encodeURIComponent(sessionId)}/messages`);
    return (await response.json()).messages;
  }

  async remove(sessionId) {
    await this.request(`/v1/sessions/${encodeURIComponent(sessionId)}`, {method: 'DELETE'});
  }

  async feedback(messageId, rating, comment) {
    const body = comment ? {rating, comment} : {rating};
    await this.request(`/v1/messages/${encodeURIComponent(messageId)}/feedback`, {
      method: 'POST',
      body: JSON.stringify(body),
    });
  }
}
