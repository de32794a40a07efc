// Admin dashboard: reads the admin JSON API with the session cookie set by signing in.
// Requests that change something send the page's CSRF token in X-CSRFToken. Every value from the
// server reaches the page through textContent (or a chart's canvas), never as HTML.
(() => {
  "use strict";

  const WINDOW_KEY = "related-posts.window";
  const WINDOWS = ["24h", "7d", "30d", "all"];
  const STATS_LIMIT = 20;
  const TRENDING_LIMIT = 10;
  const CTR_DAYS = 30;
  const HISTORY_DAYS = 90;
  const REFRESH_MS = 30000;
  const POLL_MS = 1000;
  const STATUS_MS = 6000;
  const SEARCH_DELAY_MS = 200;
  const DAY_SECONDS = 86400;
  const DAY_STEPS = [1, 2, 3, 7, 14, 28, 56, 91, 182, 364, 728].map((days) => days * DAY_SECONDS);
  const BLOCKS = ["related", "latest", "popular"];
  const BLOCK_NAMES = { related: "Related Posts", latest: "Latest Posts", popular: "Popular Posts" };
  const COLORS = {
    views: "#6366f1",
    visitors: "#0d9488",
    clicks: "#d97706",
    related: "#4f46e5",
    latest: "#0d9488",
    popular: "#d97706",
    axis: "#566072",
    grid: "#eceef3",
  };
  const AXIS_FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
  const WINDOW_NOTES = {
    "24h": "in the last 24 hours",
    "7d": "in the last 7 days",
    "30d": "in the last 30 days",
    all: "since the first recorded view",
  };
  const WINDOW_SLUGS = { "24h": "24h", "7d": "7d", "30d": "30d", all: "all-time" };

  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  const numberFormat = new Intl.NumberFormat();
  const decimalFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
  const percentNumbers = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
  // A share too small for one decimal is not "0%": one bot hit in 3,005 requests reads "<0.1%".
  const percentFormat = {
    format: (value) =>
      value > 0 && value < 0.0005 ? `<${percentNumbers.format(0.001)}` : percentNumbers.format(value),
  };
  const dayFormat = new Intl.DateTimeFormat(undefined, { timeZone: "UTC", day: "numeric", month: "short" });
  const dateFormat = new Intl.DateTimeFormat(undefined, { timeZone: "UTC", dateStyle: "medium" });
  const longDayFormat = new Intl.DateTimeFormat(undefined, {
    timeZone: "UTC",
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
  });
  const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });
  const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

  const $ = (id) => document.getElementById(id);
  const el = {
    lastUpdated: $("last-updated"),
    refresh: $("refresh"),
    windowPicker: $("window-picker"),
    status: $("status"),
    kpis: $("kpis"),
    viewsChart: $("views-chart"),
    viewsNote: $("views-note"),
    topBody: $("top-body"),
    topNote: $("top-note"),
    trendingBody: $("trending-body"),
    ctrChart: $("ctr-chart"),
    ctrBody: $("ctr-body"),
    readyBadge: $("ready-badge"),
    indexVersion: $("index-version"),
    indexBuilt: $("index-built"),
    indexArticles: $("index-articles"),
    indexRanking: $("index-ranking"),
    indexStore: $("index-store"),
    indexProblems: $("index-problems"),
    jobEmpty: $("job-empty"),
    jobDetails: $("job-details"),
    jobState: $("job-state"),
    jobMeta: $("job-meta"),
    jobSteps: $("job-steps"),
    jobProgress: $("job-progress"),
    jobStarted: $("job-started"),
    jobFinished: $("job-finished"),
    jobArticles: $("job-articles"),
    jobVersion: $("job-version"),
    jobError: $("job-error"),
    rebuild: $("rebuild"),
    historySection: $("history"),
    historyQuery: $("history-query"),
    historyResults: $("history-results"),
    historyEmpty: $("history-empty"),
    historyDetails: $("history-details"),
    historyTitle: $("history-article-title"),
    historyId: $("history-article-id"),
    historyViews: $("history-views"),
    historyBusiest: $("history-busiest"),
    historyClicks: $("history-clicks"),
    historyChart: $("history-chart"),
  };

  const state = {
    window: "7d",
    stats: null,
    trending: null,
    ctr: null,
    history: null,
    ready: null,
    job: null,
    rebuilding: false,
    serving: false, // the latest succeeded job's index is the one this worker serves
    lastUpdated: null,
    refreshTimer: null,
    ended: false,
    requests: { stats: 0, history: 0, search: 0 },
  };

  // ---- Small helpers ------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const formatNumber = (value) => numberFormat.format(value);
  const plural = (count, one, many) => `${formatNumber(count)} ${count === 1 ? one : many}`;
  const isNumber = (value) => typeof value === "number" && Number.isFinite(value);
  const daySeconds = (iso) => Date.parse(`${iso}T00:00:00Z`) / 1000;
  const sum = (values) => values.reduce((total, value) => total + (isNumber(value) ? value : 0), 0);
  const today = () => new Date().toISOString().slice(0, 10);
  const same = (a, b) => a !== null && b !== null && JSON.stringify(a) === JSON.stringify(b);

  function storageGet(key) {
    try {
      return localStorage.getItem(key);
    } catch {
      return null; // storage can be disabled; the page still works for this visit
    }
  }

  function storageSet(key, value) {
    try {
      localStorage.setItem(key, value);
    } catch {
      /* see storageGet */
    }
  }

  function relativeTime(date) {
    const seconds = Math.round((date.getTime() - Date.now()) / 1000);
    for (const [unit, size] of [
      ["day", 86400],
      ["hour", 3600],
      ["minute", 60],
    ]) {
      if (Math.abs(seconds) >= size) return relativeFormat.format(Math.round(seconds / size), unit);
    }
    return Math.abs(seconds) < 10 ? "just now" : relativeFormat.format(seconds, "second");
  }

  function duration(seconds) {
    if (!Number.isFinite(seconds) || seconds < 0) return "—";
    if (seconds < 1) return "under a second";
    if (seconds < 90) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
    return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  }

  const secondsBetween = (startIso, endIso) => (new Date(endIso) - new Date(startIso)) / 1000;

  /** Fill a <dd> with a local date-time and, below it, how long ago that was. */
  function setInstant(node, iso, fallback = "—") {
    node.replaceChildren();
    const date = iso ? new Date(iso) : null;
    if (!date || Number.isNaN(date.getTime())) {
      node.textContent = iso || fallback;
      return;
    }
    const time = document.createElement("time");
    time.dateTime = iso;
    time.textContent = dateTimeFormat.format(date);
    time.title = iso;
    const sub = document.createElement("span");
    sub.className = "sub";
    sub.textContent = relativeTime(date);
    node.append(time, sub);
  }

  let statusTimer = 0;

  /** A message at the bottom of the screen; success goes away by itself, errors stay until replaced. */
  function setStatus(message, kind = "") {
    clearTimeout(statusTimer);
    el.status.textContent = message;
    el.status.className = `status${kind ? ` is-${kind}` : ""}`;
    if (message && kind === "success") statusTimer = setTimeout(() => setStatus(""), STATUS_MS);
  }

  function setBadge(node, text, kind) {
    node.textContent = text;
    node.className = `badge${kind ? ` is-${kind}` : ""}`;
  }

  function emptyRow(body, columns, message) {
    const row = document.createElement("tr");
    row.className = "empty-row";
    const cell = document.createElement("td");
    cell.colSpan = columns;
    cell.textContent = message;
    row.append(cell);
    body.replaceChildren(row);
  }

  function cell(row, content, className = "") {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (content instanceof Node) td.append(content);
    else td.textContent = content;
    row.append(td);
    return td;
  }

  // ---- The API ------------------------------------------------------------------------------

  /** JSON from the API; statuses in ``allow`` are answers, not errors (e.g. /readyz's 503). */
  async function api(path, { method = "GET", allow = [] } = {}) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken;
    let response;
    try {
      response = await fetch(path, { method, headers, credentials: "same-origin", cache: "no-store" });
    } catch {
      throw new ApiError(0, "network", "The server could not be reached.");
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (response.ok || allow.includes(response.status)) return body;
    const error = (body && body.error) || {};
    const message = error.message || `HTTP ${response.status}`;
    const failure = new ApiError(response.status, error.code || "http_error", message);
    if (response.status === 401) sessionEnded();
    throw failure;
  }

  /** The session expired or the token changed: back to the sign-in form, saying why. */
  function sessionEnded() {
    if (state.ended) return;
    state.ended = true;
    stopAutoRefresh();
    window.location.assign("/admin?reason=expired");
  }

  /** An endpoint this server does not have yet (an older version): 404 for the route itself. */
  const isMissing = (error) =>
    error instanceof ApiError &&
    ((error.status === 404 && error.code === "not_found") ||
      (error.status === 400 && error.code === "invalid_parameter"));

  function reportError(error, what) {
    if (!(error instanceof ApiError) || error.status === 401) return;
    if (error.code === "csrf_failed") setStatus("This page is out of date: reload it and try again.", "error");
    else if (error.status === 429) setStatus("Too many failed sign-ins from this address: wait a minute.", "error");
    else setStatus(`Could not load ${what}: ${error.message}`, "error");
  }

  // ---- CSV exports (built in the page from what it shows) -----------------------------------

  const exporters = {};

  function csvCell(value) {
    if (value === null || value === undefined) return "";
    let text = String(value);
    // A cell that starts like a formula is opened as text, not run, by spreadsheets.
    if (typeof value === "string" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }

  function downloadCsv(name) {
    const table = exporters[name] && exporters[name]();
    if (!table) return;
    const lines = [table.header, ...table.rows].map((row) => row.map(csvCell).join(","));
    // A byte-order mark, so that spreadsheets read the titles as UTF-8.
    const blob = new Blob([`\ufeff${lines.join("\r\n")}\r\n`], { type: "text/csv;charset=utf-8" });
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = table.filename;
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  function setExportable(name, enabled) {
    const button = document.querySelector(`[data-export="${name}"]`);
    if (button) button.disabled = !enabled;
  }

  exporters.series = () => {
    const stats = state.stats;
    if (!stats) return null;
    return {
      filename: `views-per-day-${WINDOW_SLUGS[stats.window] || stats.window}-${today()}.csv`,
      header: ["date", "views", "visitors"],
      rows: (stats.series || []).map((point) => [point.date, point.views, point.visitors]),
    };
  };

  exporters.top = () => {
    const stats = state.stats;
    if (!stats) return null;
    return {
      filename: `top-articles-${WINDOW_SLUGS[stats.window] || stats.window}-${today()}.csv`,
      header: ["rank", "id", "title", "views", "visitors"],
      rows: (stats.articles || []).map((item, index) => [index + 1, item.id, item.title, item.views, item.visitors]),
    };
  };

  exporters.trending = () => {
    const trending = state.trending;
    if (!trending) return null;
    return {
      filename: `trending-${today()}.csv`,
      header: ["rank", "id", "title", "views", "score"],
      rows: (trending.articles || []).map((item, index) => [index + 1, item.id, item.title, item.views, item.score]),
    };
  };

  exporters.ctr = () => {
    const ctr = state.ctr;
    if (!ctr) return null;
    const header = ["date", "views"];
    for (const block of BLOCKS) header.push(`${block}_clicks`, `${block}_rate`);
    return {
      filename: `click-through-rate-${ctr.days || CTR_DAYS}d-${today()}.csv`,
      header,
      rows: (ctr.series || []).map((point) => {
        const row = [point.date, point.views];
        for (const block of BLOCKS) {
          const figures = point[block] || {};
          row.push(figures.clicks, figures.rate);
        }
        return row;
      }),
    };
  };

  exporters.history = () => {
    const history = state.history;
    if (!history) return null;
    return {
      filename: `article-history-${history.article.id}-${today()}.csv`,
      header: ["date", "views", "visitors", "clicks"],
      rows: (history.series || []).map((point) => [point.date, point.views, point.visitors, point.clicks]),
    };
  };

  // ---- Charts (uPlot, vendored) -------------------------------------------------------------

  const charts = new Map(); // container -> { plot, observer }

  /** Round 1, 2, 5 steps: whole numbers for counts. */
  const WHOLE_STEPS = [];
  for (let power = 1; power <= 1e9; power *= 10) WHOLE_STEPS.push(power, 2 * power, 5 * power);

  function chartHeight() {
    return window.matchMedia("(max-width: 600px)").matches ? 210 : 280;
  }

  /** A chart that fills its card (class chart-fill, the chart drawn out of the flow) takes the
   * card's height, less its legend; the others have a fixed height. */
  function plotHeight(container, plot) {
    if (!container.classList.contains("chart-fill") || window.matchMedia("(max-width: 960px)").matches) {
      return chartHeight();
    }
    const legend = plot.root.querySelector(".u-legend");
    return Math.max(chartHeight(), Math.floor(container.clientHeight - (legend ? legend.offsetHeight + 8 : 40)));
  }

  /**
   * Draw (or redraw) a daily chart in ``container``.
   * ``lines``: [{label, values, color, kind: "bars" | "line"}]; ``percent`` formats the y axis as rates.
   */
  function drawChart(container, { dates, lines, percent = false, emptyText = "", label = "" }) {
    destroyChart(container);
    container.replaceChildren();
    if (typeof uPlot === "undefined") {
      container.textContent = "The chart library did not load.";
      return;
    }
    const xs = dates.map(daySeconds);
    const format = percent ? (value) => percentFormat.format(value) : formatNumber;
    const allValues = lines.flatMap((line) => line.values).filter(isNumber);
    const max = allValues.length ? Math.max(...allValues) : 0;
    const manyPoints = xs.length > 45;
    const bars = uPlot.paths.bars({ size: [xs.length > 60 ? 0.8 : 0.62, 44], gap: 1 });
    const legendValue = (u, value, series, index) => (index == null ? "" : value == null ? "—" : format(value));

    const colors = [null, ...lines.map((line) => line.color)];
    const options = {
      width: Math.max(200, Math.floor(container.clientWidth)),
      height: chartHeight(),
      tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
      padding: [14, 10, 0, 2],
      legend: { live: true, markers: { width: 0, fill: (u, index) => colors[index] } },
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 8 } },
      scales: {
        // Half a day each side, so that the first and last bars are whole.
        x: { time: true, range: (u, low, high) => [low - DAY_SECONDS / 2, high + DAY_SECONDS / 2] },
        y: { range: () => [0, max > 0 ? max * 1.15 : percent ? 0.1 : 4] },
      },
      axes: [
        {
          stroke: COLORS.axis,
          font: AXIS_FONT,
          grid: { show: false },
          ticks: { stroke: COLORS.grid, size: 4 },
          space: 64,
          // Whole days only: a window of one or two days drew a tick every few hours, each
          // labelled with its date ("Nov 27, Nov 27, Nov 28, …").
          incrs: DAY_STEPS,
          values: (u, splits) => {
            const labels = splits.map((seconds) => dayFormat.format(new Date(seconds * 1000)));
            container.dataset.dayLabels = labels.join("|"); // what the axis reads, for checks
            return labels;
          },
        },
        {
          stroke: COLORS.axis,
          font: AXIS_FONT,
          grid: { stroke: COLORS.grid, width: 1 },
          ticks: { show: false },
          incrs: percent ? undefined : WHOLE_STEPS,
          space: 36,
          size: (u, values) => (values ? Math.max(...values.map((value) => value.length)) * 7 + 18 : 40),
          values: (u, splits) => splits.map(format),
        },
      ],
      series: [
        // The legend names the series; under the pointer it also shows the day and its values.
        { value: (u, seconds) => (seconds == null ? "" : longDayFormat.format(new Date(seconds * 1000))) },
        ...lines.map((line) =>
          line.kind === "bars"
            ? {
                label: line.label,
                stroke: line.color,
                fill: line.color,
                width: 0,
                paths: bars,
                points: { show: false },
                value: legendValue,
              }
            : {
                label: line.label,
                stroke: line.color,
                width: 2,
                spanGaps: false,
                points: { show: !manyPoints, size: 6, width: 2, fill: "#fff" },
                value: legendValue,
              },
        ),
      ],
    };
    const data = [xs, ...lines.map((line) => line.values.map((value) => (isNumber(value) ? value : null)))];
    const plot = new uPlot(options, data, container);

    if (emptyText && max === 0) {
      const overlay = document.createElement("p");
      overlay.className = "chart-empty";
      overlay.textContent = emptyText;
      container.append(overlay);
    }
    container.dataset.points = String(xs.length);
    container.dataset.total = String(sum(lines[0] ? lines[0].values : []));
    container.setAttribute("aria-label", label);

    const fit = () => {
      const width = Math.max(200, Math.floor(container.clientWidth));
      const height = plotHeight(container, plot);
      if (width !== plot.width || height !== plot.height) plot.setSize({ width, height });
    };
    fit();
    const observer = new ResizeObserver(fit);
    observer.observe(container);
    charts.set(container, { plot, observer });
  }

  function destroyChart(container) {
    const chart = charts.get(container);
    if (!chart) return;
    chart.observer.disconnect();
    chart.plot.destroy();
    charts.delete(container);
  }

  function chartMessage(container, message) {
    destroyChart(container);
    const placeholder = document.createElement("p");
    placeholder.className = "placeholder";
    placeholder.textContent = message;
    container.replaceChildren(placeholder);
    container.setAttribute("aria-label", message);
    delete container.dataset.points;
    delete container.dataset.total;
  }

  function rangeLabel(dates) {
    if (!dates.length) return "";
    const first = longDayFormat.format(new Date(daySeconds(dates[0]) * 1000));
    const last = longDayFormat.format(new Date(daySeconds(dates[dates.length - 1]) * 1000));
    return first === last ? first : `${first} to ${last}`;
  }

  // ---- Stats: figures, the views chart, top articles ---------------------------------------

  async function loadStats({ quiet = false } = {}) {
    const request = ++state.requests.stats;
    const chosen = state.window;
    if (!quiet) el.kpis.classList.add("is-loading");
    try {
      const stats = await api(`/api/v1/admin/stats?window=${encodeURIComponent(chosen)}&limit=${STATS_LIMIT}`);
      if (request !== state.requests.stats) return;
      const changed = !same(stats, state.stats);
      state.stats = stats;
      if (changed) renderStats(stats); // an unchanged chart is not redrawn under the pointer
      markUpdated();
    } catch (error) {
      if (request !== state.requests.stats) return;
      reportError(error, "the statistics");
    } finally {
      if (request === state.requests.stats) el.kpis.classList.remove("is-loading");
    }
  }

  function setKpi(name, value, note) {
    $(`kpi-${name}`).textContent = value;
    $(`kpi-${name}-note`).textContent = note;
  }

  function renderStats(stats) {
    const views = Number(stats.total_views) || 0;
    const note = WINDOW_NOTES[stats.window] || "";
    setKpi("views", formatNumber(views), note);

    if (isNumber(stats.unique_visitors)) {
      const visitors = stats.unique_visitors;
      const perVisitor = visitors > 0 ? `${decimalFormat.format(views / visitors)} views per visitor` : note;
      setKpi("visitors", formatNumber(visitors), perVisitor);
    } else {
      setKpi("visitors", "—", "Not counted by this server yet");
    }

    if (isNumber(stats.bot_hits)) {
      const hits = stats.bot_hits + views;
      setKpi(
        "bots",
        hits > 0 ? percentFormat.format(stats.bot_hits / hits) : "—",
        `${plural(stats.bot_hits, "bot hit", "bot hits")} left out of the views`,
      );
    } else {
      setKpi("bots", "—", "Not counted by this server yet");
    }

    const clicks = stats.clicks || {};
    const totalClicks = sum(BLOCKS.map((block) => clicks[block]));
    const byBlock = BLOCKS.map((block) => `${formatNumber(clicks[block] || 0)} ${block}`).join(" · ");
    setKpi("clicks", formatNumber(totalClicks), byBlock);
    $("kpi-clicks").title = views > 0 ? `${percentFormat.format(totalClicks / views)} of the views` : "";

    renderViewsChart(stats);
    renderTop(stats);
  }

  function renderViewsChart(stats) {
    const series = stats.series || [];
    const dates = series.map((point) => point.date);
    const hasVisitors = series.some((point) => isNumber(point.visitors));
    el.viewsNote.textContent = `Per UTC day, ${WINDOW_NOTES[stats.window] || ""}`;
    if (!series.length) {
      chartMessage(el.viewsChart, "No views in this window yet");
      setExportable("series", false);
      return;
    }
    const lines = [{ label: "Views", values: series.map((point) => point.views), color: COLORS.views, kind: "bars" }];
    if (hasVisitors) {
      const values = series.map((point) => point.visitors);
      lines.push({ label: "Visitors", values, color: COLORS.visitors, kind: "line" });
    }
    const visitors = isNumber(stats.unique_visitors) ? `, ${plural(stats.unique_visitors, "visitor", "visitors")}` : "";
    drawChart(el.viewsChart, {
      dates,
      lines,
      emptyText: "No views in this window yet",
      label: `Views per day, ${rangeLabel(dates)}: ${plural(Number(stats.total_views) || 0, "view", "views")}${visitors}`,
    });
    setExportable("series", true);
  }

  function articleButton(item) {
    const wrap = document.createElement("div");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "article-title link-button";
    button.textContent = item.title || item.id;
    button.title = "Show this article's history";
    button.addEventListener("click", () => {
      openHistory(item.id, item.title);
      el.historySection.scrollIntoView({ behavior: "smooth", block: "start" });
    });
    const id = document.createElement("span");
    id.className = "article-id";
    id.textContent = item.id;
    wrap.append(button, id);
    return wrap;
  }

  function rankBadge(rank) {
    const badge = document.createElement("span");
    badge.className = "rank";
    badge.textContent = String(rank);
    return badge;
  }

  function renderTop(stats) {
    const articles = stats.articles || [];
    el.topNote.textContent = articles.length
      ? `Most viewed ${WINDOW_NOTES[stats.window] || ""}`
      : `Nothing viewed ${WINDOW_NOTES[stats.window] || ""}`;
    setExportable("top", articles.length > 0);
    if (!articles.length) {
      emptyRow(el.topBody, 4, "No views in this window yet");
      return;
    }
    const most = Math.max(...articles.map((item) => Number(item.views) || 0), 1);
    el.topBody.replaceChildren(
      ...articles.map((item, index) => {
        const row = document.createElement("tr");
        cell(row, rankBadge(index + 1), "col-rank");
        cell(row, articleButton(item));
        const views = document.createElement("div");
        views.className = "views-cell";
        const meter = document.createElement("span");
        meter.className = "meter";
        const fill = document.createElement("span");
        fill.style.width = `${Math.max(2, (100 * (Number(item.views) || 0)) / most)}%`;
        meter.append(fill);
        const count = document.createElement("span");
        count.className = "views-count";
        count.textContent = formatNumber(item.views);
        views.append(meter, count);
        cell(row, views, "col-num");
        cell(row, isNumber(item.visitors) ? formatNumber(item.visitors) : "—", "col-num num");
        return row;
      }),
    );
  }

  // ---- Trending -----------------------------------------------------------------------------

  async function loadTrending() {
    try {
      const trending = await api(`/api/v1/admin/stats?window=trending&limit=${TRENDING_LIMIT}`);
      if (same(trending, state.trending)) return;
      state.trending = trending;
      renderTrending(trending);
    } catch (error) {
      state.trending = null;
      setExportable("trending", false);
      if (isMissing(error)) emptyRow(el.trendingBody, 4, "Trending is not available on this server yet.");
      else {
        emptyRow(el.trendingBody, 4, "Could not load trending articles.");
        reportError(error, "trending articles");
      }
    }
  }

  function renderTrending(trending) {
    const articles = trending.articles || [];
    setExportable("trending", articles.length > 0);
    if (!articles.length) {
      emptyRow(el.trendingBody, 4, "Nothing is trending right now");
      return;
    }
    el.trendingBody.replaceChildren(
      ...articles.map((item, index) => {
        const row = document.createElement("tr");
        cell(row, rankBadge(index + 1), "col-rank");
        cell(row, articleButton(item));
        cell(row, formatNumber(item.views), "col-num num");
        cell(row, isNumber(item.score) ? decimalFormat.format(item.score) : "—", "col-num num");
        return row;
      }),
    );
  }

  // ---- Click-through rate by block ------------------------------------------------------------

  async function loadCtr() {
    try {
      const ctr = await api(`/api/v1/admin/ctr?days=${CTR_DAYS}`);
      if (same(ctr, state.ctr)) return;
      state.ctr = ctr;
      renderCtr(ctr);
    } catch (error) {
      state.ctr = null;
      setExportable("ctr", false);
      const message = isMissing(error)
        ? "Click-through rates are not available on this server yet."
        : "Could not load click-through rates.";
      chartMessage(el.ctrChart, message);
      emptyRow(el.ctrBody, 3, "—");
      if (!isMissing(error)) reportError(error, "click-through rates");
    }
  }

  function renderCtr(ctr) {
    const series = ctr.series || [];
    const dates = series.map((point) => point.date);
    const rate = (point, block) => (point[block] && isNumber(point[block].rate) ? point[block].rate : null);
    setExportable("ctr", series.length > 0);
    if (!series.length) chartMessage(el.ctrChart, "No views in these days yet");
    else {
      drawChart(el.ctrChart, {
        dates,
        percent: true,
        lines: BLOCKS.map((block) => ({
          label: BLOCK_NAMES[block],
          values: series.map((point) => rate(point, block)),
          color: COLORS[block],
          kind: "line",
        })),
        emptyText: "No clicks on recommendations in these days yet",
        label: `Click-through rate of each block per day, ${rangeLabel(dates)}.`,
      });
    }
    const totals = ctr.totals || {};
    el.ctrBody.replaceChildren(
      ...BLOCKS.map((block) => {
        const figures = totals[block] || {};
        const row = document.createElement("tr");
        const name = document.createElement("span");
        name.className = `block-name block-${block}`;
        name.textContent = BLOCK_NAMES[block];
        cell(row, name);
        cell(row, isNumber(figures.clicks) ? formatNumber(figures.clicks) : "—", "col-num num");
        cell(row, isNumber(figures.rate) ? percentFormat.format(figures.rate) : "—", "col-num num");
        return row;
      }),
    );
  }

  // ---- Article history: find by title, then a chart -------------------------------------------

  const search = { timer: 0, results: [], active: -1 };

  function closeResults() {
    el.historyResults.hidden = true;
    el.historyResults.replaceChildren();
    el.historyQuery.setAttribute("aria-expanded", "false");
    el.historyQuery.removeAttribute("aria-activedescendant");
    search.results = [];
    search.active = -1;
  }

  function setActive(index) {
    const options = el.historyResults.querySelectorAll('[role="option"]');
    if (!options.length) return;
    search.active = (index + options.length) % options.length;
    options.forEach((option, i) => option.setAttribute("aria-selected", String(i === search.active)));
    const active = options[search.active];
    el.historyQuery.setAttribute("aria-activedescendant", active.id);
    active.scrollIntoView({ block: "nearest" });
  }

  function showResults(articles, query) {
    search.results = articles;
    search.active = -1;
    el.historyResults.replaceChildren();
    if (!articles.length) {
      const none = document.createElement("li");
      none.className = "search-none";
      none.textContent = `No article title contains “${query}”`;
      el.historyResults.append(none);
    }
    articles.forEach((article, index) => {
      const option = document.createElement("li");
      option.id = `history-option-${index}`;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      const title = document.createElement("span");
      title.className = "option-title";
      title.textContent = article.title;
      const meta = document.createElement("span");
      meta.className = "option-meta";
      const published = article.published_at ? dateFormat.format(new Date(article.published_at)) : "undated";
      meta.textContent = `${article.id} · ${published}`;
      option.append(title, meta);
      option.addEventListener("mousedown", (event) => event.preventDefault()); // keep the input's focus
      option.addEventListener("click", () => choose(index));
      el.historyResults.append(option);
    });
    el.historyResults.hidden = false;
    el.historyQuery.setAttribute("aria-expanded", "true");
  }

  function choose(index) {
    const article = search.results[index];
    if (!article) return;
    el.historyQuery.value = article.title;
    closeResults();
    openHistory(article.id, article.title);
  }

  async function runSearch() {
    const query = el.historyQuery.value.trim();
    const request = ++state.requests.search;
    if (!query) {
      closeResults();
      return;
    }
    try {
      const answer = await api(`/admin/articles/search?q=${encodeURIComponent(query)}`);
      if (request !== state.requests.search || el.historyQuery.value.trim() !== query) return;
      showResults(answer.articles || [], query);
    } catch (error) {
      if (request !== state.requests.search) return;
      closeResults();
      reportError(error, "matching articles");
    }
  }

  // quiet: the periodic refresh of the history shown, without "Loading…" in between.
  async function openHistory(id, title, { quiet = false } = {}) {
    const request = ++state.requests.history;
    if (!quiet) {
      el.historyEmpty.hidden = true;
      el.historyDetails.hidden = false;
      el.historyTitle.textContent = title || id;
      el.historyId.textContent = id;
      for (const node of [el.historyViews, el.historyBusiest, el.historyClicks]) node.textContent = "…";
      chartMessage(el.historyChart, "Loading…");
      setExportable("history", false);
    }
    try {
      const history = await api(`/api/v1/admin/articles/${encodeURIComponent(id)}/history?days=${HISTORY_DAYS}`);
      if (request !== state.requests.history) return;
      state.history = history;
      renderHistory(history);
    } catch (error) {
      if (request !== state.requests.history) return;
      state.history = null;
      for (const node of [el.historyViews, el.historyBusiest, el.historyClicks]) node.textContent = "—";
      if (error.code === "article_not_found") chartMessage(el.historyChart, "This article no longer exists.");
      else if (isMissing(error)) chartMessage(el.historyChart, "Article history is not available on this server yet.");
      else {
        chartMessage(el.historyChart, "Could not load this article's history.");
        reportError(error, "the article's history");
      }
    }
  }

  function renderHistory(history) {
    const series = history.series || [];
    const dates = series.map((point) => point.date);
    const article = history.article || {};
    el.historyTitle.textContent = article.title || article.id;
    el.historyId.textContent = article.id;
    el.historyViews.textContent = formatNumber(sum(series.map((point) => point.views)));
    el.historyClicks.textContent = formatNumber(sum(series.map((point) => point.clicks)));
    // Daily unique visitors do not add up (a reader on two days is two), so: the busiest day.
    const busiest = series.reduce(
      (best, point) => ((point.views || 0) > (best ? best.views : 0) ? point : best),
      null,
    );
    el.historyBusiest.textContent = busiest
      ? `${dayFormat.format(new Date(daySeconds(busiest.date) * 1000))} · ${formatNumber(busiest.views)}`
      : "—";
    setExportable("history", series.length > 0);
    if (!series.length) {
      chartMessage(el.historyChart, "No views of this article in these days");
      return;
    }
    drawChart(el.historyChart, {
      dates,
      lines: [
        { label: "Views", values: series.map((point) => point.views), color: COLORS.views, kind: "bars" },
        { label: "Visitors", values: series.map((point) => point.visitors), color: COLORS.visitors, kind: "line" },
        { label: "Clicks", values: series.map((point) => point.clicks), color: COLORS.clicks, kind: "line" },
      ],
      emptyText: "No views of this article in these days",
      label: `Views, visitors and clicks of “${article.title || article.id}” per day, ${rangeLabel(dates)}.`,
    });
  }

  // ---- Index and reindex jobs ---------------------------------------------------------------

  async function loadIndex() {
    try {
      // /readyz answers 503 with the same body while no index is loaded.
      const ready = await api("/readyz", { allow: [503] });
      state.ready = ready;
      renderIndex(ready);
      return ready;
    } catch (error) {
      setBadge(el.readyBadge, "Unreachable", "danger");
      reportError(error, "the index status");
      return null;
    }
  }

  /** How the index ranks, e.g. "TF-IDF + latent 0.42 + embeddings 0.2". */
  function rankingText(index) {
    const parts = ["TF-IDF"];
    if (index.latent_weight > 0) parts.push(`latent ${index.latent_weight.toFixed(2)}`);
    if (index.embedding_weight > 0) parts.push(`embeddings ${index.embedding_weight}`);
    return parts.join(" + ") + (index.embedding_weight > 0 ? "" : " · no embeddings");
  }

  function renderIndex(ready) {
    if (!ready) return;
    const index = ready.index;
    if (ready.ready) setBadge(el.readyBadge, "Ready", "success");
    else setBadge(el.readyBadge, "Not ready", index ? "warning" : "danger");
    el.indexVersion.textContent = index ? index.version : "No index yet";
    setInstant(el.indexBuilt, index && index.built_at, index ? "—" : "Rebuild to create one");
    // An older server's /readyz has neither (the dashboard may be newer than the service).
    el.indexArticles.textContent = index && index.articles != null ? index.articles.toLocaleString("en") : "—";
    el.indexRanking.textContent = index && index.embedding_weight != null ? rankingText(index) : "—";
    el.indexStore.textContent = ready.store === "ok" ? "Answering" : "Unavailable";
    const problems = [...(ready.problems || [])];
    if (ready.index_error && !problems.some((problem) => problem.includes(ready.index_error))) {
      problems.push(`The latest index failed to load: ${ready.index_error}`);
    }
    el.indexProblems.hidden = problems.length === 0;
    el.indexProblems.replaceChildren(
      ...problems.map((problem) => {
        const item = document.createElement("li");
        item.textContent = problem;
        return item;
      }),
    );
    if (state.job) renderJob(state.job);
  }

  const JOB_BADGES = {
    queued: ["Queued", "info"],
    running: ["Running", "info"],
    succeeded: ["Succeeded", "success"],
    failed: ["Failed", "danger"],
  };
  const isFinished = (job) => job && (job.state === "succeeded" || job.state === "failed");

  /** Steps of a job: queued → building → published → served by this worker. */
  function jobProgress(job) {
    const served = state.ready && state.ready.index && state.ready.index.version === job.index_version;
    switch (job.state) {
      case "queued":
        return { done: 0, percent: 8 };
      case "running":
        return { done: 1, percent: null };
      case "succeeded":
        return served ? { done: 4, percent: 100 } : { done: 3, percent: 80 };
      default:
        return { done: 1, percent: 100, failed: true };
    }
  }

  function renderJob(job) {
    state.job = job;
    el.jobEmpty.hidden = Boolean(job);
    el.jobDetails.hidden = !job;
    if (!job) return;
    const [label, kind] = JOB_BADGES[job.state] || [job.state, ""];
    setBadge(el.jobState, label, kind);
    el.jobState.dataset.state = job.state;

    const id = String(job.id);
    const meta = [`Job ${id.length > 8 ? id.slice(0, 8) : id}`];
    if (job.source) meta.push(job.source === "cli" ? "from the CLI" : "from the dashboard or API");
    if (job.started_at) {
      const seconds = secondsBetween(job.started_at, job.finished_at || new Date().toISOString());
      meta.push(`${job.finished_at ? "took" : "running for"} ${duration(seconds)}`);
    }
    el.jobMeta.textContent = meta.join(" · ");
    el.jobMeta.title = `Job ${id}`;

    const progress = jobProgress(job);
    el.jobSteps.querySelectorAll("li").forEach((step, index) => {
      step.className = index < progress.done ? "is-done" : index === progress.done ? "is-current" : "";
      if (progress.failed && index === progress.done) step.className = "is-failed";
    });
    el.jobProgress.className = `progress${progress.percent === null ? " is-indeterminate" : ""}${
      progress.failed ? " is-failed" : ""
    }${progress.percent === 100 && !progress.failed ? " is-complete" : ""}`;
    const bar = el.jobProgress.firstElementChild;
    if (progress.percent === null) {
      el.jobProgress.removeAttribute("aria-valuenow");
      bar.style.width = "";
    } else {
      el.jobProgress.setAttribute("aria-valuenow", String(progress.percent));
      bar.style.width = `${progress.percent}%`;
    }

    setInstant(el.jobStarted, job.started_at, "Not started");
    setInstant(el.jobFinished, job.finished_at, isFinished(job) ? "—" : "In progress…");
    el.jobArticles.textContent = isNumber(job.articles) ? formatNumber(job.articles) : "—";
    el.jobVersion.textContent = job.index_version || "—";
    el.jobError.hidden = !job.error;
    el.jobError.textContent = job.error || "";
  }

  async function loadJob({ resume = false } = {}) {
    try {
      const body = await api("/api/v1/admin/reindex");
      renderJob(body.job);
      // A rebuild started elsewhere (another tab, the CLI) is followed like our own.
      if (resume && body.job && !isFinished(body.job) && !state.rebuilding) followJob();
      return body.job;
    } catch (error) {
      reportError(error, "the latest rebuild");
      return null;
    }
  }

  function setRebuilding(rebuilding) {
    state.rebuilding = rebuilding;
    el.rebuild.disabled = rebuilding;
    el.rebuild.classList.toggle("is-busy", rebuilding);
    el.rebuild.querySelector(".btn-label").textContent = rebuilding ? "Rebuilding…" : "Rebuild index";
  }

  async function startRebuild() {
    if (state.rebuilding) return;
    setRebuilding(true);
    setStatus("Starting a rebuild of the index…");
    try {
      const body = await api("/api/v1/admin/reindex", { method: "POST" });
      renderJob(body.job);
    } catch (error) {
      setRebuilding(false);
      reportError(error, "a rebuild");
      return;
    }
    await followJob();
  }

  /** Poll the latest job every second until it ends, then wait for the index it published. */
  async function followJob() {
    setRebuilding(true);
    setStatus("Rebuilding the index…");
    let job = null;
    for (;;) {
      await sleep(POLL_MS);
      if (state.ended) return;
      try {
        job = (await api("/api/v1/admin/reindex")).job;
      } catch (error) {
        if (state.ended) return;
        setStatus(`Still rebuilding; the last check failed: ${error.message}`, "error");
        continue;
      }
      renderJob(job);
      if (!job || isFinished(job)) break;
    }
    setRebuilding(false);
    if (job && job.state === "succeeded") {
      setStatus(
        `Index rebuilt: version ${job.index_version} from ${plural(job.articles || 0, "article", "articles")}.`,
        "success",
      );
      await waitForVersion(job.index_version);
    } else {
      setStatus(`The rebuild failed${job && job.error ? `: ${job.error}` : "."}`, "error");
      await loadIndex();
    }
    await loadStats({ quiet: true });
  }

  /** Workers pick up a new index within about a second; show it once this one has. */
  async function waitForVersion(version) {
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const ready = await loadIndex();
      if (!ready || (ready.index && ready.index.version === version)) return;
      await sleep(500);
    }
  }

  // ---- Refreshing ---------------------------------------------------------------------------

  function markUpdated() {
    state.lastUpdated = new Date();
    const time = document.createElement("time");
    time.dateTime = state.lastUpdated.toISOString();
    time.textContent = timeFormat.format(state.lastUpdated);
    el.lastUpdated.replaceChildren("Updated ", time);
    el.lastUpdated.title = `Figures refresh every ${REFRESH_MS / 1000} seconds`;
  }

  async function refreshAll({ quiet = true } = {}) {
    document.body.classList.add("is-refreshing");
    try {
      await Promise.all([
        loadStats({ quiet }),
        loadTrending(),
        loadCtr(),
        loadIndex(),
        state.rebuilding ? null : loadJob(),
        // The history shown follows too (a deleted article says so at the next refresh).
        state.history && state.history.article ? openHistory(state.history.article.id, "", { quiet: true }) : null,
      ]);
    } finally {
      document.body.classList.remove("is-refreshing");
    }
  }

  function startAutoRefresh() {
    stopAutoRefresh();
    state.refreshTimer = setInterval(() => {
      if (!document.hidden) refreshAll();
    }, REFRESH_MS);
  }

  function stopAutoRefresh() {
    if (state.refreshTimer !== null) clearInterval(state.refreshTimer);
    state.refreshTimer = null;
  }

  document.addEventListener("visibilitychange", () => {
    // Catch up at once when the tab comes back after missing a refresh.
    if (!document.hidden && state.lastUpdated && Date.now() - state.lastUpdated > REFRESH_MS) {
      refreshAll();
      startAutoRefresh();
    }
  });

  // ---- Wiring -------------------------------------------------------------------------------

  el.refresh.addEventListener("click", () => refreshAll({ quiet: false }));
  el.rebuild.addEventListener("click", startRebuild);
  for (const button of document.querySelectorAll("[data-export]")) {
    button.addEventListener("click", () => downloadCsv(button.dataset.export));
  }

  el.windowPicker.addEventListener("change", (event) => {
    const value = event.target.value;
    if (!WINDOWS.includes(value) || value === state.window) return;
    state.window = value;
    storageSet(WINDOW_KEY, value);
    loadStats();
  });

  el.historyQuery.addEventListener("input", () => {
    clearTimeout(search.timer);
    search.timer = setTimeout(runSearch, SEARCH_DELAY_MS);
  });
  el.historyQuery.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (el.historyResults.hidden) return;
      event.preventDefault();
      setActive(search.active + (event.key === "ArrowDown" ? 1 : -1));
    } else if (event.key === "Enter") {
      event.preventDefault();
      clearTimeout(search.timer);
      if (search.active >= 0) choose(search.active);
      else if (search.results.length) choose(0);
      else runSearch();
    } else if (event.key === "Escape") {
      closeResults();
    }
  });
  el.historyQuery.addEventListener("blur", () => setTimeout(closeResults, 150));

  const savedWindow = storageGet(WINDOW_KEY);
  if (WINDOWS.includes(savedWindow)) state.window = savedWindow;
  const radio = $(`window-${state.window}`);
  if (radio) radio.checked = true;

  Promise.all([loadStats(), loadTrending(), loadCtr(), loadIndex().then(() => loadJob({ resume: true }))]);
  startAutoRefresh();
})();
