// Admin dashboard: reads the admin JSON API with the token the admin enters.
// Every value from the server reaches the page through textContent or an SVG attribute, never as HTML.
(() => {
  "use strict";

  const TOKEN_KEY = "related-posts.admin-token";
  const WINDOW_KEY = "related-posts.window";
  const WINDOWS = ["24h", "7d", "30d", "all"];
  const STATS_LIMIT = 20;
  const REFRESH_MS = 30000;
  const POLL_MS = 1000;
  const STATUS_MS = 6000;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const WINDOW_NOTES = {
    "24h": "in the last 24 hours",
    "7d": "in the last 7 days",
    "30d": "in the last 30 days",
    all: "since the first recorded view",
  };
  const MESSAGES = {
    wrongToken: "Wrong token: the server rejected it. Check the value of ADMIN_TOKEN and try again.",
    savedTokenRejected: "Wrong token: the saved token is no longer accepted. Sign in again.",
    adminDisabled: "Admin API disabled: set ADMIN_TOKEN on the server, then restart it.",
    emptyToken: "Enter the admin token.",
    noViews: "No views in this window yet",
  };

  const numberFormat = new Intl.NumberFormat();
  const dayFormat = new Intl.DateTimeFormat(undefined, { timeZone: "UTC", day: "numeric", month: "short" });
  const longDayFormat = new Intl.DateTimeFormat(undefined, {
    timeZone: "UTC",
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
  });
  const shortDayFormat = new Intl.DateTimeFormat(undefined, {
    timeZone: "UTC",
    weekday: "short",
    day: "numeric",
    month: "short",
  });
  const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });
  const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

  const $ = (id) => document.getElementById(id);
  const el = {
    session: $("session"),
    lastUpdated: $("last-updated"),
    refresh: $("refresh"),
    signOut: $("sign-out"),
    signin: $("signin"),
    signinForm: $("signin-form"),
    token: $("token"),
    signinMessage: $("signin-message"),
    signinButton: $("signin-button"),
    dashboard: $("dashboard"),
    windowPicker: $("window-picker"),
    status: $("status"),
    kpis: $("kpis"),
    kpiTotal: $("kpi-total"),
    kpiTotalNote: $("kpi-total-note"),
    kpiArticles: $("kpi-articles"),
    kpiArticlesNote: $("kpi-articles-note"),
    kpiBusiest: $("kpi-busiest"),
    kpiBusiestNote: $("kpi-busiest-note"),
    chart: $("chart"),
    chartNote: $("chart-note"),
    chartReadout: $("chart-readout"),
    topBody: $("top-body"),
    topNote: $("top-note"),
    topTable: $("top-table"),
    readyBadge: $("ready-badge"),
    indexVersion: $("index-version"),
    indexBuilt: $("index-built"),
    indexStore: $("index-store"),
    indexError: $("index-error"),
    jobEmpty: $("job-empty"),
    jobDetails: $("job-details"),
    jobState: $("job-state"),
    jobMeta: $("job-meta"),
    jobStarted: $("job-started"),
    jobFinished: $("job-finished"),
    jobArticles: $("job-articles"),
    jobVersion: $("job-version"),
    jobError: $("job-error"),
    rebuild: $("rebuild"),
  };

  let resizeFrame = 0;
  let drawnWidth = 0;

  const state = {
    token: null,
    window: "7d",
    session: 0, // bumped on sign-out so that loops and late answers of an old session stop
    statsRequest: 0,
    stats: null,
    refreshTimer: null,
    lastUpdated: null,
    rebuilding: false,
    chartActive: null,
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
  const parseDay = (iso) => new Date(`${iso}T00:00:00Z`);

  function storageGet(storage, key) {
    try {
      return storage.getItem(key);
    } catch {
      return null; // storage can be disabled; the page still works for this visit
    }
  }

  function storageSet(storage, key, value) {
    try {
      if (value === null) storage.removeItem(key);
      else storage.setItem(key, value);
    } catch {
      /* see storageGet */
    }
  }

  function relativeTime(date) {
    const seconds = Math.round((date.getTime() - Date.now()) / 1000);
    const units = [
      ["day", 86400],
      ["hour", 3600],
      ["minute", 60],
    ];
    for (const [unit, size] of units) {
      if (Math.abs(seconds) >= size) return relativeFormat.format(Math.round(seconds / size), unit);
    }
    return Math.abs(seconds) < 10 ? "just now" : relativeFormat.format(seconds, "second");
  }

  function duration(startIso, endIso) {
    const seconds = (new Date(endIso) - new Date(startIso)) / 1000;
    if (!Number.isFinite(seconds) || seconds < 0) return "—";
    if (seconds < 1) return "under a second";
    if (seconds < 90) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
    return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  }

  function formatInstant(iso) {
    if (!iso) return null;
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : date;
  }

  /** Fill a <dd> with a local date-time and, below it, how long ago that was. */
  function setInstant(node, iso, fallback = "—") {
    node.replaceChildren();
    const date = formatInstant(iso);
    if (!date) {
      node.textContent = fallback;
      return;
    }
    if (typeof date === "string") {
      node.textContent = date;
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

  /** Show a status message; success messages go away by themselves, errors stay until replaced. */
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

  // ---- API ----------------------------------------------------------------------------------

  async function api(path, { method = "GET", auth = true, allow = [] } = {}) {
    const headers = { Accept: "application/json" };
    if (auth) headers.Authorization = `Bearer ${state.token}`;
    let response;
    try {
      response = await fetch(path, { method, headers, cache: "no-store", credentials: "omit" });
    } catch {
      throw new ApiError(0, "network_error", "The service did not answer. Is it running?");
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok && !allow.includes(response.status)) {
      const error = body && body.error ? body.error : {};
      throw new ApiError(
        response.status,
        error.code || `http_${response.status}`,
        error.message || `The service answered ${response.status} ${response.statusText}.`,
      );
    }
    return body;
  }

  /** Sign out on the two errors that make the token useless; true when it did. */
  function handleAuthError(error, { saved = false } = {}) {
    if (!(error instanceof ApiError)) return false;
    if (error.status === 401) {
      signOut(saved ? MESSAGES.savedTokenRejected : MESSAGES.wrongToken);
      return true;
    }
    if (error.status === 503 && error.code === "admin_disabled") {
      signOut(MESSAGES.adminDisabled);
      return true;
    }
    return false;
  }

  function reportError(error, what) {
    if (handleAuthError(error)) return;
    const message = error instanceof ApiError ? error.message : String(error);
    setStatus(`Could not load ${what}: ${message}`, "error");
    if (!(error instanceof ApiError)) console.warn(error); // a bug in this page, not the server
  }

  // ---- Sign in and out ----------------------------------------------------------------------

  function showSignin(message) {
    el.dashboard.hidden = true;
    el.session.hidden = true;
    el.signin.hidden = false;
    el.signinMessage.textContent = message || "";
    el.token.setAttribute("aria-invalid", message ? "true" : "false");
    el.token.focus();
    if (message) el.token.select();
  }

  function showDashboard() {
    el.signin.hidden = true;
    el.signinMessage.textContent = "";
    el.dashboard.hidden = false;
    el.session.hidden = false;
  }

  async function signIn(token, { saved = false } = {}) {
    const session = ++state.session;
    state.token = token;
    setSigninBusy(true);
    let stats;
    try {
      stats = await api(statsPath(state.window));
    } catch (error) {
      if (session !== state.session) return;
      setSigninBusy(false);
      if (!handleAuthError(error, { saved })) {
        showSignin(`Could not sign in: ${error instanceof ApiError ? error.message : error}`);
      }
      return;
    }
    if (session !== state.session) return;
    setSigninBusy(false);
    storageSet(sessionStorage, TOKEN_KEY, token);
    el.token.value = "";
    showDashboard();
    renderStats(stats);
    markUpdated();
    setStatus("");
    await Promise.all([loadIndex(), loadJob({ resume: true })]);
    startAutoRefresh();
  }

  function signOut(message) {
    state.session += 1;
    state.token = null;
    state.stats = null;
    state.rebuilding = false;
    stopAutoRefresh();
    storageSet(sessionStorage, TOKEN_KEY, null);
    resetDashboard();
    showSignin(message);
  }

  function setSigninBusy(busy) {
    el.signinButton.disabled = busy;
    el.signinButton.textContent = busy ? "Signing in…" : "Sign in";
  }

  /** Forget what the last session showed, so that nothing lingers after signing out. */
  function resetDashboard() {
    el.kpis.classList.add("is-loading");
    for (const node of [el.kpiTotal, el.kpiTotalNote, el.kpiArticles, el.kpiArticlesNote]) {
      node.textContent = "\u00a0";
    }
    el.kpiBusiest.textContent = "\u00a0";
    el.kpiBusiestNote.textContent = "\u00a0";
    showChartPlaceholder("Loading…");
    setTableMessage("Loading…");
    el.topNote.textContent = "";
    setStatus("");
    el.lastUpdated.textContent = "Not loaded yet";
    state.lastUpdated = null;
    setRebuilding(false);
  }

  // ---- Stats --------------------------------------------------------------------------------

  function statsPath(window) {
    return `/api/v1/admin/stats?window=${encodeURIComponent(window)}&limit=${STATS_LIMIT}`;
  }

  async function loadStats({ quiet = false } = {}) {
    const session = state.session;
    const request = ++state.statsRequest;
    const window = state.window;
    if (!quiet) setBusy(true);
    try {
      const stats = await api(statsPath(window));
      // A newer request (another window) or another session wins over this late answer.
      if (session !== state.session || request !== state.statsRequest) return;
      renderStats(stats);
      markUpdated();
      if (el.status.classList.contains("is-error")) setStatus("");
    } catch (error) {
      if (session !== state.session || request !== state.statsRequest) return;
      reportError(error, "statistics");
    } finally {
      if (request === state.statsRequest) setBusy(false);
    }
  }

  function setBusy(busy) {
    for (const node of [el.chart, el.topTable, el.kpis]) {
      if (busy) node.setAttribute("aria-busy", "true");
      else node.removeAttribute("aria-busy");
    }
  }

  function renderStats(stats) {
    state.stats = stats;
    el.kpis.classList.remove("is-loading");
    const series = Array.isArray(stats.series) ? stats.series : [];
    const articles = Array.isArray(stats.articles) ? stats.articles : [];
    const total = Number(stats.total_views) || 0;

    el.kpiTotal.textContent = formatNumber(total);
    el.kpiTotalNote.textContent = WINDOW_NOTES[stats.window] || "";

    const capped = articles.length >= STATS_LIMIT;
    el.kpiArticles.textContent = capped ? `${formatNumber(STATS_LIMIT)}+` : formatNumber(articles.length);
    el.kpiArticlesNote.textContent = capped
      ? `the top ${STATS_LIMIT} are listed below`
      : articles.length === 0
        ? "none viewed yet"
        : `viewed ${WINDOW_NOTES[stats.window] || ""}`.trim();

    const busiest = busiestDay(series);
    if (busiest) {
      el.kpiBusiest.textContent = shortDayFormat.format(parseDay(busiest.date));
      el.kpiBusiestNote.textContent = `${plural(busiest.views, "view", "views")} · UTC day`;
    } else {
      el.kpiBusiest.textContent = "—";
      el.kpiBusiestNote.textContent = "no views yet";
    }

    el.chartNote.textContent = series.length
      ? `${plural(series.length, "UTC day", "UTC days")}, ${dayFormat.format(parseDay(series[0].date))} – ${dayFormat.format(
          parseDay(series[series.length - 1].date),
        )}`
      : "UTC days";
    drawChart(series, total);
    renderTopArticles(articles);
  }

  /** The day with the most views; the latest one on a tie. Null when nothing was viewed. */
  function busiestDay(series) {
    let best = null;
    for (const point of series) {
      if (point.views > 0 && (!best || point.views >= best.views)) best = point;
    }
    return best;
  }

  // ---- Top articles -------------------------------------------------------------------------

  function setTableMessage(message) {
    const row = document.createElement("tr");
    row.className = "empty-row";
    const cell = document.createElement("td");
    cell.colSpan = 3;
    cell.textContent = message;
    row.append(cell);
    el.topBody.replaceChildren(row);
  }

  function renderTopArticles(articles) {
    if (articles.length === 0) {
      el.topNote.textContent = "";
      setTableMessage(MESSAGES.noViews);
      return;
    }
    el.topNote.textContent = `${WINDOW_NOTES[state.stats.window] || ""}`;
    const most = Math.max(...articles.map((article) => article.views), 1);
    const rows = articles.map((article, index) => {
      const row = document.createElement("tr");

      const rankCell = document.createElement("td");
      const rank = document.createElement("span");
      rank.className = "rank";
      rank.textContent = String(index + 1);
      rankCell.append(rank);

      const titleCell = document.createElement("td");
      const link = document.createElement("a");
      link.className = "article-title";
      link.href = `/api/v1/articles/${encodeURIComponent(article.id)}`;
      link.textContent = article.title || article.id;
      const id = document.createElement("span");
      id.className = "article-id";
      id.textContent = article.id;
      titleCell.append(link, id);

      const viewsCell = document.createElement("td");
      const wrap = document.createElement("div");
      wrap.className = "views-cell";
      const count = document.createElement("span");
      count.className = "views-count";
      count.textContent = formatNumber(article.views);
      const meter = document.createElement("div");
      meter.className = "meter";
      meter.setAttribute("aria-hidden", "true");
      const fill = document.createElement("span");
      fill.style.width = `${Math.max(2, (article.views / most) * 100)}%`;
      meter.append(fill);
      wrap.append(count, meter);
      viewsCell.append(wrap);

      row.append(rankCell, titleCell, viewsCell);
      return row;
    });
    el.topBody.replaceChildren(...rows);
  }

  // ---- Chart --------------------------------------------------------------------------------

  function svg(name, attributes = {}, parent = null) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    if (parent) parent.append(node);
    return node;
  }

  /** A step of 1, 2 or 5 times a power of ten, so that about ``count`` ticks cover ``max``. */
  function niceStep(max, count) {
    const raw = Math.max(max / count, 1);
    const power = 10 ** Math.floor(Math.log10(raw));
    const multiple = [1, 2, 5, 10].find((candidate) => candidate * power >= raw);
    return multiple * power;
  }

  function showChartPlaceholder(message) {
    const placeholder = document.createElement("p");
    placeholder.className = "placeholder";
    placeholder.textContent = message;
    el.chart.replaceChildren(placeholder);
  }

  /** A bar with rounded top corners, its base on the axis. */
  function barPath(x, y, width, height) {
    if (height <= 0) return `M${x},${y}h${width}v0h${-width}z`;
    const r = Math.min(4, width / 2, height);
    return (
      `M${x},${y + height}V${y + r}Q${x},${y} ${x + r},${y}` +
      `H${x + width - r}Q${x + width},${y} ${x + width},${y + r}V${y + height}z`
    );
  }

  function drawChart(series, total) {
    state.chartActive = null;
    el.chartReadout.textContent = "";
    drawnWidth = Math.round(el.chart.clientWidth);
    if (series.length === 0) {
      showChartPlaceholder(MESSAGES.noViews);
      return;
    }
    const width = Math.max(280, Math.round(el.chart.clientWidth || 600));
    const narrow = width < 520;
    const height = narrow ? 200 : 260;
    const max = Math.max(...series.map((point) => point.views), 0);
    const step = niceStep(max || 1, narrow ? 3 : 4);
    const top = Math.max(step, Math.ceil(max / step) * step);
    const ticks = [];
    for (let value = 0; value <= top; value += step) ticks.push(value);

    const labelWidth = Math.max(...ticks.map((tick) => formatNumber(tick).length)) * 7.5 + 12;
    const margin = { top: 12, right: 8, bottom: 28, left: Math.max(28, labelWidth) };
    const plotWidth = width - margin.left - margin.right;
    const plotHeight = height - margin.top - margin.bottom;
    const band = plotWidth / series.length;
    const barWidth = Math.max(1, Math.min(band * (series.length > 60 ? 0.8 : 0.68), 56));
    const y = (value) => margin.top + plotHeight - (value / top) * plotHeight;
    const first = series[0].date;
    const last = series[series.length - 1].date;

    const root = svg("svg", {
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      tabindex: 0,
      "aria-label":
        `Daily views from ${longDayFormat.format(parseDay(first))} to ${longDayFormat.format(parseDay(last))}: ` +
        `${plural(total, "view", "views")} in total. Use the arrow keys to read each day.`,
    });

    const grid = svg("g", { class: "grid" }, root);
    const axis = svg("g", { class: "axis" }, root);
    for (const tick of ticks) {
      const ty = Math.round(y(tick)) + 0.5;
      svg(
        "line",
        { x1: margin.left, x2: width - margin.right, y1: ty, y2: ty, class: tick === 0 ? "baseline" : "" },
        grid,
      );
      const label = svg("text", { x: margin.left - 10, y: ty, "text-anchor": "end", dy: "0.32em" }, axis);
      label.textContent = formatNumber(tick);
    }

    const hoverBand = svg("rect", { class: "hover-band", x: 0, y: margin.top, width: band, height: plotHeight }, root);
    hoverBand.style.display = "none";

    const bars = svg("g", { class: "bars" }, root);
    const barNodes = series.map((point, index) => {
      const x = margin.left + index * band + (band - barWidth) / 2;
      // Days without views keep a faint stub, so that every day of the window can be seen.
      const barHeight = point.views > 0 ? Math.max(3, (point.views / top) * plotHeight) : 2;
      const bar = svg(
        "path",
        {
          class: point.views > 0 ? "bar" : "bar is-zero",
          d: barPath(x, margin.top + plotHeight - barHeight, barWidth, barHeight),
          "data-date": point.date,
          "data-views": point.views,
        },
        bars,
      );
      return bar;
    });

    // Date labels: as many as fit, always including the latest day.
    const maxLabels = Math.max(1, Math.floor(plotWidth / (narrow ? 64 : 76)));
    const every = Math.ceil(series.length / maxLabels);
    series.forEach((point, index) => {
      if ((series.length - 1 - index) % every !== 0) return;
      const cx = margin.left + index * band + band / 2;
      const anchor = series.length > 1 && index === 0 && cx - margin.left < 30 ? "start" : "middle";
      const label = svg(
        "text",
        { x: anchor === "start" ? margin.left : cx, y: height - 8, "text-anchor": anchor },
        axis,
      );
      label.textContent = dayFormat.format(parseDay(point.date));
    });

    if (total === 0) {
      const empty = svg(
        "text",
        { class: "empty-text", x: margin.left + plotWidth / 2, y: margin.top + plotHeight / 2, "text-anchor": "middle" },
        root,
      );
      empty.textContent = MESSAGES.noViews;
    }

    const tooltip = document.createElement("div");
    tooltip.className = "tooltip";
    tooltip.hidden = true;
    tooltip.setAttribute("aria-hidden", "true");

    function activate(index, announce) {
      if (index === null || index < 0 || index >= series.length) {
        state.chartActive = null;
        tooltip.hidden = true;
        hoverBand.style.display = "none";
        for (const bar of barNodes) bar.classList.remove("is-active");
        return;
      }
      state.chartActive = index;
      const point = series[index];
      barNodes.forEach((bar, i) => bar.classList.toggle("is-active", i === index));
      hoverBand.setAttribute("x", margin.left + index * band);
      hoverBand.style.display = "";

      const count = document.createElement("strong");
      count.textContent = plural(point.views, "view", "views");
      const day = document.createElement("span");
      day.textContent = longDayFormat.format(parseDay(point.date));
      tooltip.replaceChildren(count, day);
      tooltip.hidden = false;

      const barTop = y(point.views);
      const cx = margin.left + index * band + band / 2;
      const tipWidth = tooltip.offsetWidth;
      const tipHeight = tooltip.offsetHeight;
      const left = Math.min(Math.max(cx - tipWidth / 2, 0), width - tipWidth);
      const topPx = Math.max(barTop - tipHeight - 10, 0);
      tooltip.style.transform = `translate(${Math.round(left)}px, ${Math.round(topPx)}px)`;
      if (announce) el.chartReadout.textContent = `${day.textContent}: ${count.textContent}`;
    }

    function indexAt(event) {
      const box = root.getBoundingClientRect();
      const x = ((event.clientX - box.left) / box.width) * width - margin.left;
      if (x < 0 || x > plotWidth) return null;
      return Math.min(series.length - 1, Math.floor(x / band));
    }

    root.addEventListener("pointermove", (event) => activate(indexAt(event), false));
    root.addEventListener("pointerdown", (event) => activate(indexAt(event), false));
    root.addEventListener("pointerleave", () => {
      if (document.activeElement !== root) activate(null, false);
    });
    root.addEventListener("blur", () => activate(null, false));
    root.addEventListener("focus", () => {
      if (state.chartActive === null) activate(series.length - 1, true);
    });
    root.addEventListener("keydown", (event) => {
      const current = state.chartActive === null ? series.length - 1 : state.chartActive;
      const moves = { ArrowLeft: -1, ArrowRight: 1, Home: -Infinity, End: Infinity };
      if (!(event.key in moves)) {
        if (event.key === "Escape") activate(null, false);
        return;
      }
      event.preventDefault();
      const next = Math.min(series.length - 1, Math.max(0, current + moves[event.key]));
      activate(next, true);
    });

    el.chart.replaceChildren(root, tooltip);
  }

  new ResizeObserver(() => {
    cancelAnimationFrame(resizeFrame);
    resizeFrame = requestAnimationFrame(() => {
      const width = Math.round(el.chart.clientWidth);
      if (!state.stats || el.dashboard.hidden || width === drawnWidth) return;
      drawnWidth = width;
      drawChart(state.stats.series || [], Number(state.stats.total_views) || 0);
    });
  }).observe(el.chart);

  // ---- Index and reindex jobs ---------------------------------------------------------------

  async function loadIndex() {
    const session = state.session;
    try {
      // /readyz answers 503 with the same body while no index is loaded.
      const ready = await api("/readyz", { auth: false, allow: [503] });
      if (session !== state.session) return null;
      renderIndex(ready);
      return ready;
    } catch (error) {
      if (session !== state.session) return null;
      setBadge(el.readyBadge, "Unreachable", "danger");
      reportError(error, "index status");
      return null;
    }
  }

  function renderIndex(ready) {
    if (!ready) return;
    const index = ready.index;
    if (ready.ready) setBadge(el.readyBadge, "Ready", "success");
    else setBadge(el.readyBadge, "Not ready", index ? "warning" : "danger");
    el.indexVersion.textContent = index ? index.version : "No index yet";
    setInstant(el.indexBuilt, index && index.built_at, index ? "—" : "Rebuild to create one");
    el.indexStore.textContent = ready.store === "ok" ? "Answering" : "Unavailable";
    el.indexError.hidden = !ready.index_error;
    el.indexError.textContent = ready.index_error ? `Latest index failed to load: ${ready.index_error}` : "";
  }

  const JOB_BADGES = {
    queued: ["Queued", "info"],
    running: ["Running", "info"],
    succeeded: ["Succeeded", "success"],
    failed: ["Failed", "danger"],
  };
  const isFinished = (job) => job && (job.state === "succeeded" || job.state === "failed");

  function renderJob(job) {
    el.jobEmpty.hidden = Boolean(job);
    el.jobDetails.hidden = !job;
    if (!job) return;
    const [label, kind] = JOB_BADGES[job.state] || [job.state, ""];
    setBadge(el.jobState, label, kind);
    el.jobState.dataset.state = job.state;
    const id = String(job.id);
    const meta = [`Job ${id.length > 8 ? id.slice(0, 8) : id}`];
    if (job.source) meta.push(job.source === "cli" ? "from the CLI" : "from the API");
    if (job.started_at && job.finished_at) meta.push(`took ${duration(job.started_at, job.finished_at)}`);
    el.jobMeta.textContent = meta.join(" · ");
    el.jobMeta.title = `Job ${id}`;
    setInstant(el.jobStarted, job.started_at, "Not started");
    setInstant(el.jobFinished, job.finished_at, isFinished(job) ? "—" : "In progress…");
    el.jobArticles.textContent = job.articles === null || job.articles === undefined ? "—" : formatNumber(job.articles);
    el.jobVersion.textContent = job.index_version || "—";
    el.jobError.hidden = !job.error;
    el.jobError.textContent = job.error || "";
  }

  async function loadJob({ resume = false } = {}) {
    const session = state.session;
    try {
      const body = await api("/api/v1/admin/reindex");
      if (session !== state.session) return null;
      renderJob(body.job);
      // A rebuild started elsewhere (another tab, the CLI) is followed like our own.
      if (resume && body.job && !isFinished(body.job) && !state.rebuilding) followJob(session);
      return body.job;
    } catch (error) {
      if (session !== state.session) return null;
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
    const session = state.session;
    setRebuilding(true);
    setStatus("Starting a rebuild of the index…");
    try {
      const body = await api("/api/v1/admin/reindex", { method: "POST" });
      if (session !== state.session) return;
      renderJob(body.job);
    } catch (error) {
      if (session !== state.session) return;
      setRebuilding(false);
      reportError(error, "a rebuild");
      return;
    }
    await followJob(session);
  }

  /** Poll the latest job every second until it ends, then show the index it published. */
  async function followJob(session) {
    setRebuilding(true);
    setStatus("Rebuilding the index…");
    let job = null;
    for (;;) {
      await sleep(POLL_MS);
      if (session !== state.session) return;
      try {
        job = (await api("/api/v1/admin/reindex")).job;
      } catch (error) {
        if (session !== state.session) return;
        if (handleAuthError(error)) return;
        setStatus(`Still rebuilding; the last check failed: ${error.message}`, "error");
        continue;
      }
      if (session !== state.session) return;
      renderJob(job);
      if (!job || isFinished(job)) break;
    }
    setRebuilding(false);
    if (job && job.state === "succeeded") {
      setStatus(`Index rebuilt: version ${job.index_version} from ${plural(job.articles || 0, "article", "articles")}.`, "success");
      await waitForVersion(session, job.index_version);
    } else {
      setStatus(`The rebuild failed${job && job.error ? `: ${job.error}` : "."}`, "error");
      await loadIndex();
    }
    if (session === state.session) await loadStats({ quiet: true });
  }

  /** Workers pick up a new index within about a second; show it once this one has. */
  async function waitForVersion(session, version) {
    for (let attempt = 0; attempt < 10; attempt += 1) {
      if (session !== state.session) return;
      const ready = await loadIndex();
      if (!ready || (ready.index && ready.index.version === version)) return;
      await sleep(500);
    }
  }

  // ---- Refreshing ---------------------------------------------------------------------------

  function markUpdated() {
    state.lastUpdated = new Date();
    el.lastUpdated.replaceChildren();
    const time = document.createElement("time");
    time.dateTime = state.lastUpdated.toISOString();
    time.textContent = timeFormat.format(state.lastUpdated);
    el.lastUpdated.append("Updated ", time);
    el.lastUpdated.title = `Statistics refresh every ${REFRESH_MS / 1000} seconds`;
  }

  async function refreshAll({ quiet = true } = {}) {
    if (!state.token) return;
    document.body.classList.add("is-refreshing");
    try {
      await Promise.all([loadStats({ quiet }), loadIndex(), state.rebuilding ? null : loadJob()]);
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
    if (!document.hidden && state.token && state.lastUpdated && Date.now() - state.lastUpdated > REFRESH_MS) {
      refreshAll();
      startAutoRefresh();
    }
  });

  // ---- Wiring -------------------------------------------------------------------------------

  el.signinForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = el.token.value.trim();
    if (!token) {
      showSignin(MESSAGES.emptyToken);
      return;
    }
    signIn(token);
  });

  el.signOut.addEventListener("click", () => signOut(""));
  el.refresh.addEventListener("click", () => refreshAll({ quiet: false }));
  el.rebuild.addEventListener("click", startRebuild);

  el.windowPicker.addEventListener("change", (event) => {
    const value = event.target.value;
    if (!WINDOWS.includes(value) || value === state.window) return;
    state.window = value;
    storageSet(localStorage, WINDOW_KEY, value);
    loadStats();
  });

  const savedWindow = storageGet(localStorage, WINDOW_KEY);
  if (WINDOWS.includes(savedWindow)) state.window = savedWindow;
  const radio = document.getElementById(`window-${state.window}`);
  if (radio) radio.checked = true;

  const savedToken = storageGet(sessionStorage, TOKEN_KEY);
  if (savedToken) {
    // Show the dashboard skeleton straight away; a rejected token sends the admin back.
    showDashboard();
    resetDashboard();
    signIn(savedToken, { saved: true });
  } else {
    showSignin("");
  }
})();
