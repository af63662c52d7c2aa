// The admin dashboard: asks for the admin key, polls /v1/admin/stats every 5 s, draws the figures.
// No external assets, no inline script or style (the page's CSP allows only 'self').
"use strict";

(function () {
  const POLL_MS = 5000;
  const HISTORY = 120; // samples kept for the charts (10 minutes)
  const WINDOW_MS = 60000; // latency percentiles over the last minute
  const KEY_STORE = "rag-admin-key";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const samples = [];
  let timer = null;

  const $ = (id) => document.getElementById(id);

  function setText(id, text) {
    const el = $(id);
    if (el) el.textContent = text;
  }

  // --- formatting -------------------------------------------------------------------------------

  const int = (n) => (n === null || n === undefined ? "–" : Math.round(n).toLocaleString("en-US"));
  const usd = (n) =>
    n === null || n === undefined ? "–" : "$" + (Math.abs(n) < 1 ? n.toFixed(4) : n.toFixed(2));
  const pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(1) + "%");
  function secs(s) {
    if (s === null || s === undefined) return "–";
    return s < 1 ? Math.round(s * 1000) + " ms" : s.toFixed(2) + " s";
  }

  // --- the key ----------------------------------------------------------------------------------

  function keyFromFragment() {
    const match = /(?:^#|&)key=([^&]+)/.exec(window.location.hash);
    if (!match) return;
    sessionStorage.setItem(KEY_STORE, decodeURIComponent(match[1]));
    // keep the key out of the address bar and the browser history
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }

  function showLogin(message) {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    $("board").hidden = true;
    $("forget").hidden = true;
    $("login").hidden = false;
    setText("login-error", message || "");
    $("key-input").focus();
  }

  function start() {
    $("login").hidden = true;
    $("forget").hidden = false;
    samples.length = 0;
    poll();
  }

  // --- polling ----------------------------------------------------------------------------------

  async function poll() {
    const key = sessionStorage.getItem(KEY_STORE);
    if (!key) {
      showLogin("");
      return;
    }
    try {
      const response = await fetch("stats?days=14", {
        headers: { "X-API-Key": key, Accept: "application/json" },
        cache: "no-store",
      });
      if (response.status === 401) {
        sessionStorage.removeItem(KEY_STORE);
        showLogin("That key was not accepted.");
        return;
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      const stats = await response.json();
      record(stats);
      render(stats);
      $("board").hidden = false;
    } catch (error) {
      setText("updated", "update failed: " + error.message);
      $("ready").className = "badge bad";
    }
    timer = setTimeout(poll, POLL_MS);
  }

  function record(stats) {
    samples.push({
      t: Date.now(),
      requests: stats.http.requests,
      errors: stats.http.server_errors,
      buckets: stats.http.chat_latency_buckets,
    });
    while (samples.length > HISTORY) samples.shift();
  }

  // --- figures ----------------------------------------------------------------------------------

  function quantile(q, buckets) {
    if (!buckets.length || buckets[buckets.length - 1].count <= 0) return null;
    const rank = q * buckets[buckets.length - 1].count;
    let lowerLe = 0;
    let lowerCount = 0;
    for (const b of buckets) {
      if (b.count >= rank) {
        if (b.le === null) return lowerLe; // the +Inf bucket
        if (b.count === lowerCount) return b.le;
        return lowerLe + ((b.le - lowerLe) * (rank - lowerCount)) / (b.count - lowerCount);
      }
      lowerLe = b.le;
      lowerCount = b.count;
    }
    return lowerLe;
  }

  function bucketDelta(now, before) {
    const old = new Map(before.map((b) => [b.le, b.count]));
    return now.map((b) => ({ le: b.le, count: b.count - (old.get(b.le) || 0) }));
  }

  function series() {
    const rate = [];
    const errors = [];
    const p50 = [];
    const p95 = [];
    const p99 = [];
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1];
      const b = samples[i];
      const dt = Math.max((b.t - a.t) / 1000, 0.001);
      rate.push([b.t, (b.requests - a.requests) / dt]);
      errors.push([b.t, (b.errors - a.errors) / dt]);
      // the newest sample at least a minute older; none yet: everything since the start
      let base = [];
      for (let j = i - 1; j >= 0; j--) {
        if (b.t - samples[j].t >= WINDOW_MS) {
          base = samples[j].buckets;
          break;
        }
      }
      const recent = bucketDelta(b.buckets, base);
      p50.push([b.t, quantile(0.5, recent)]);
      p95.push([b.t, quantile(0.95, recent)]);
      p99.push([b.t, quantile(0.99, recent)]);
    }
    return { rate, errors, p50, p95, p99 };
  }

  function render(stats) {
    const http = stats.http;
    const s = series();
    const last = (points) => (points.length ? points[points.length - 1][1] : null);
    const ready = $("ready");
    ready.textContent = stats.ready ? "ready" : "not ready";
    ready.className = "badge " + (stats.ready ? "ok" : "bad");
    setText("updated", "updated " + new Date(stats.generated_at).toLocaleTimeString("en-GB"));

    setText("requests-total", int(http.requests));
    const rate = last(s.rate);
    setText("request-rate", rate === null ? "–" : rate.toFixed(2));
    setText("errors-total", int(http.server_errors));
    setText("error-rate", http.requests ? pct(http.server_errors / http.requests) : "–");
    setText("latency-p50", secs(http.chat_latency_s.p50));
    setText("latency-p95", secs(http.chat_latency_s.p95));
    setText("latency-p99", secs(http.chat_latency_s.p99));
    setText("answers-total", int(stats.answers.total));
    setText("answers-degraded", int(stats.answers.by_outcome.degraded));
    setText("answers-refused", int(stats.answers.by_outcome.refused));
    setText("cache-hit-rate", pct(stats.cache.hit_rate));
    setText("cache-hits", int(stats.cache.hits));
    setText("cache-misses", int(stats.cache.misses));
    setText("fallbacks-total", int(stats.models.reduce((n, m) => n + m.fallbacks, 0)));
    setText("rate-limited", int(http.rate_limited));
    setText("index-chunks", int(stats.index.chunks));
    setText("index-version", stats.index.version === null ? "–" : "v" + stats.index.version);
    setText("feedback-up", stats.feedback ? int(stats.feedback.up) : "–");
    setText("feedback-down", stats.feedback ? int(stats.feedback.down) : "–");

    renderSpend(stats.spend);
    lineChart($("chart-traffic"), [
      { name: "requests/s", cls: "s1", points: s.rate },
      { name: "5xx/s", cls: "s3", points: s.errors },
    ], (v) => v.toFixed(2), "waiting for a second sample…");
    lineChart($("chart-latency"), [
      { name: "p50", cls: "s1", points: s.p50 },
      { name: "p95", cls: "s2", points: s.p95 },
      { name: "p99", cls: "s3", points: s.p99 },
    ], secs, "no chat requests in the last minute");
    renderModels(stats.models);
  }

  function renderSpend(spend) {
    const bar = $("spend-bar");
    clear(bar);
    if (!spend) {
      setText("spend-today", "database unavailable");
      setText("budget", "–");
      setText("budget-used", "");
      return;
    }
    setText("spend-today", usd(spend.today_usd));
    setText("budget", spend.budget_usd === null ? "no daily budget" : usd(spend.budget_usd));
    setText("budget-used", spend.budget_used === null ? "" : "(" + pct(spend.budget_used) + " used)");
    const used = spend.budget_used === null ? 0 : Math.min(spend.budget_used, 1);
    el(bar, "rect", { x: 0, y: 4, width: 600, height: 20, class: "track" });
    el(bar, "rect", {
      x: 0, y: 4, width: Math.max(600 * used, 0), height: 20,
      class: spend.over_alert ? "fill alert" : "fill",
    });
    if (spend.budget_usd !== null) {
      const x = 600 * spend.alert_fraction;
      el(bar, "line", { x1: x, x2: x, y1: 0, y2: 28, class: "marker" });
    }
    barChart($("chart-daily"), spend.daily.map((d) => [d.day.slice(5), d.cost_usd]), usd);
    barChart(
      $("chart-tokens"),
      spend.today_by_model.map((m) => [m.model, m.prompt_tokens + m.completion_tokens]),
      int,
    );
    const rows = $("spend-table");
    clear(rows);
    for (const m of spend.today_by_model) {
      row(rows, [m.model, int(m.answers), int(m.prompt_tokens), int(m.completion_tokens), usd(m.cost_usd)]);
    }
  }

  function renderModels(models) {
    const rows = $("models-table");
    clear(rows);
    for (const m of models) {
      row(rows, [
        m.model, int(m.attempts.ok || 0), int(m.errors), int(m.fallbacks), m.breaker || "–",
        secs(m.ttft_s.p95), int(m.prompt_tokens + m.completion_tokens),
      ]);
    }
  }

  // --- drawing (SVG built with DOM calls: no markup strings, no inline styles) ------------------

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function el(parent, name, attrs, text) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    parent.appendChild(node);
    return node;
  }

  function row(tbody, cells) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement("td");
      td.textContent = cell;
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }

  const PAD = { left: 56, right: 10, top: 22, bottom: 24 };

  function axes(svg, maxValue, format) {
    const h = 200 - PAD.top - PAD.bottom;
    for (const f of [0, 0.5, 1]) {
      const y = PAD.top + h - f * h;
      el(svg, "line", { x1: PAD.left, x2: 600 - PAD.right, y1: y, y2: y, class: "grid" });
      el(svg, "text", { x: PAD.left - 6, y: y + 4, class: "tick", "text-anchor": "end" }, format(f * maxValue));
    }
  }

  function lineChart(svg, lines, format, emptyText) {
    clear(svg);
    const all = lines.flatMap((l) => l.points.filter((p) => p[1] !== null));
    if (!all.length) {
      el(svg, "text", { x: 300, y: 100, class: "empty", "text-anchor": "middle" }, emptyText);
      return;
    }
    const t0 = Math.min(...all.map((p) => p[0]));
    const t1 = Math.max(...all.map((p) => p[0]), t0 + 1);
    const top = Math.max(...all.map((p) => p[1]), 1e-9) * 1.1;
    const w = 600 - PAD.left - PAD.right;
    const h = 200 - PAD.top - PAD.bottom;
    axes(svg, top, format);
    lines.forEach((line, i) => {
      const pts = line.points
        .filter((p) => p[1] !== null)
        .map((p) => [PAD.left + ((p[0] - t0) / (t1 - t0)) * w, PAD.top + h - (p[1] / top) * h]);
      if (pts.length === 1) el(svg, "circle", { cx: pts[0][0], cy: pts[0][1], r: 3, class: "dot " + line.cls });
      if (pts.length > 1) {
        el(svg, "polyline", { points: pts.map((p) => p.join(",")).join(" "), class: "line " + line.cls });
      }
      el(svg, "rect", { x: PAD.left + i * 110, y: 4, width: 10, height: 10, class: "key " + line.cls });
      el(svg, "text", { x: PAD.left + i * 110 + 14, y: 13, class: "legend" }, line.name);
    });
  }

  function barChart(svg, bars, format) {
    clear(svg);
    if (!bars.length) {
      el(svg, "text", { x: 300, y: 100, class: "empty", "text-anchor": "middle" }, "nothing yet");
      return;
    }
    const top = Math.max(...bars.map((b) => b[1]), 1e-9) * 1.15;
    const w = 600 - PAD.left - PAD.right;
    const h = 200 - PAD.top - PAD.bottom;
    const step = w / bars.length;
    axes(svg, top, format);
    bars.forEach(([label, value], i) => {
      const bh = (value / top) * h;
      const x = PAD.left + i * step + step * 0.15;
      el(svg, "rect", { x, y: PAD.top + h - bh, width: step * 0.7, height: bh, class: "barfill" });
      el(svg, "text", { x: x + step * 0.35, y: 200 - 8, class: "tick", "text-anchor": "middle" }, label);
    });
  }

  // --- wiring -----------------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    keyFromFragment();
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY_STORE, $("key-input").value);
      $("key-input").value = "";
      start();
    });
    $("forget").addEventListener("click", () => {
      sessionStorage.removeItem(KEY_STORE);
      showLogin("");
    });
    if (sessionStorage.getItem(KEY_STORE)) start();
    else showLogin("");
  });
})();
