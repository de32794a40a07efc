/*! Related Posts widget. Embed:
 *   <div data-related-posts="ARTICLE_ID"></div>
 *   <script src="https://SERVICE/widget.js" async></script>
 * Options (data- attributes of the element): limit (1-50, 5), sections (related,latest,popular),
 * window (24h|7d|30d|all, 7d), headings ("related:You may also like|latest:New"), timeout (ms,
 * 3000), href (link template, "/demo/{id}"; default: each item's url), beacon ("false": no view).
 * Builds the DOM with createElement/textContent only; never throws into the page. */
(function () {
  'use strict';

  var w = window;
  var d = document;
  if (w.__relatedPostsWidget) return; // included twice: the first copy does the work
  w.__relatedPostsWidget = 1;

  var SECTIONS = ['related', 'latest', 'popular'];
  var WINDOWS = ['24h', '7d', '30d', 'all'];
  var HEADINGS = { related: 'Related Posts', latest: 'Latest Posts', popular: 'Popular Posts' };
  var STYLE_ID = 'rp-style';
  // Zero-specificity wrapper, and the style goes first in <head>: any rule of the site on the
  // plain classes wins.
  var CSS =
    ':where(.rp-blocks){display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,13rem),1fr));' +
    'gap:1.75rem 2.5rem;margin:0;padding:0}' +
    ':where(.rp-blocks) .rp-block{min-width:0;margin:0}' +
    ':where(.rp-blocks) .rp-heading{margin:0 0 .5rem;padding:0 0 .55rem;border-bottom:2px solid currentColor;' +
    'font-size:1.125rem;font-weight:700;line-height:1.3;letter-spacing:0}' +
    ':where(.rp-blocks) .rp-list{margin:0;padding:0;list-style:none}' +
    ':where(.rp-blocks) .rp-item{margin:0;padding:.7rem 0;border-bottom:1px solid rgba(128,128,128,.25)}' +
    ':where(.rp-blocks) .rp-item:last-child{border-bottom:0}' +
    ':where(.rp-blocks) .rp-link{display:block;display:-webkit-box;-webkit-box-orient:vertical;' +
    '-webkit-line-clamp:4;overflow:hidden;font-weight:600;line-height:1.35;color:inherit;' +
    'text-decoration:none;overflow-wrap:anywhere}' +
    ':where(.rp-blocks) a.rp-link:hover,:where(.rp-blocks) a.rp-link:focus-visible{text-decoration:underline}' +
    ':where(.rp-blocks) .rp-date{display:block;margin-top:.2rem;font-size:.85em;line-height:1.4;opacity:.68}';

  // The service's base URL, from this script's own src (currentScript is only set now).
  var me = d.currentScript || d.querySelector('script[src*="widget.js"]');
  var base;
  try {
    base = new URL('.', me.src).href;
  } catch (e) {
    return;
  }

  var viewed = {};
  var dateFormat;
  try {
    dateFormat = new Intl.DateTimeFormat(d.documentElement.lang || undefined, {
      year: 'numeric',
      month: 'short',
      day: 'numeric',
      timeZone: 'UTC'
    });
  } catch (e) {
    dateFormat = null;
  }

  function noop() {}

  function endpoint(id, tail) {
    return base + 'api/v1/articles/' + encodeURIComponent(id) + '/' + tail;
  }

  // POST without waiting for an answer, so it survives the page being left; a plain body keeps
  // it a CORS-simple request (no preflight).
  function beacon(url, body) {
    try {
      if (navigator.sendBeacon && navigator.sendBeacon(url, body)) return;
    } catch (e) {}
    try {
      var init = { method: 'POST', keepalive: true, mode: 'no-cors', credentials: 'omit' };
      if (body) init.body = body;
      w.fetch(url, init).catch(noop);
    } catch (e) {}
  }

  function options(el) {
    var data = function (name) {
      return (el.getAttribute('data-' + name) || '').trim();
    };
    var limit = parseInt(data('limit'), 10);
    var timeout = parseInt(data('timeout'), 10);
    var sections = [];
    data('sections')
      .split(',')
      .forEach(function (name) {
        name = name.trim();
        if (SECTIONS.indexOf(name) >= 0 && sections.indexOf(name) < 0) sections.push(name);
      });
    var headings = {};
    SECTIONS.forEach(function (name) {
      headings[name] = HEADINGS[name];
    });
    data('headings')
      .split('|')
      .forEach(function (pair) {
        var at = pair.indexOf(':');
        var name = pair.slice(0, at).trim();
        if (at > 0 && HEADINGS[name] && pair.slice(at + 1).trim()) headings[name] = pair.slice(at + 1).trim();
      });
    return {
      limit: limit >= 1 && limit <= 50 ? limit : 5,
      sections: sections.length ? sections : SECTIONS,
      window: WINDOWS.indexOf(data('window')) >= 0 ? data('window') : '7d',
      headings: headings,
      timeout: timeout > 0 ? timeout : 3000,
      href: data('href'),
      beacon: data('beacon').toLowerCase() !== 'false'
    };
  }

  // Only web links: a javascript:, data: or unparsable target is shown as text.
  function safeHref(value) {
    if (!value) return null;
    try {
      var url = new URL(value, d.baseURI);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function make(tag, className, text) {
    var node = d.createElement(tag);
    if (className) node.setAttribute('class', className);
    if (text != null) node.textContent = text;
    return node;
  }

  function item(entry, section, template) {
    var id = String(entry.id);
    var href = safeHref(template ? template.split('{id}').join(encodeURIComponent(id)) : entry.url);
    var li = make('li', 'rp-item');
    var link = make(href ? 'a' : 'span', 'rp-link', String(entry.title || id));
    if (href) link.setAttribute('href', href);
    link.setAttribute('dir', 'auto'); // a title's own direction stays inside it
    link.setAttribute('data-target', id);
    link.setAttribute('data-section', section);
    li.appendChild(link);
    var when = entry.published_at ? new Date(entry.published_at) : null;
    if (when && !isNaN(when.getTime())) {
      var time = make('time', 'rp-date', dateFormat ? dateFormat.format(when) : when.toISOString().slice(0, 10));
      time.setAttribute('datetime', entry.published_at);
      li.appendChild(time);
    }
    return li;
  }

  function render(el, id, answer, opts) {
    var wrap = make('div', 'rp-blocks');
    wrap.setAttribute('role', 'region');
    wrap.setAttribute('aria-label', 'Recommended articles');
    opts.sections.forEach(function (section) {
      var entries = answer && answer[section];
      if (!entries || !entries.length) return;
      var block = make('section', 'rp-block rp-block--' + section);
      var heading = make('h2', 'rp-heading', opts.headings[section]);
      block.setAttribute('data-section', section);
      var list = make('ul', 'rp-list');
      entries.slice(0, opts.limit).forEach(function (entry) {
        if (entry && entry.id != null) list.appendChild(item(entry, section, opts.href));
      });
      block.appendChild(heading);
      block.appendChild(list);
      wrap.appendChild(block);
    });
    var report = function (event) {
      var link = event.target && event.target.closest ? event.target.closest('a.rp-link') : null;
      if (!link || (event.type === 'auxclick' && event.button !== 1)) return;
      var click = { section: link.getAttribute('data-section'), target: link.getAttribute('data-target') };
      beacon(endpoint(id, 'clicks'), new Blob([JSON.stringify(click)], { type: 'text/plain' }));
    };
    wrap.addEventListener('click', report);
    wrap.addEventListener('auxclick', report); // a middle click opens a tab
    while (el.firstChild) el.removeChild(el.firstChild);
    if (wrap.firstChild) el.appendChild(wrap);
  }

  function settle(el, state) {
    el.classList.remove('rp-loading');
    el.classList.add(state);
  }

  function load(el) {
    var id = (el.getAttribute('data-related-posts') || '').trim();
    if (!id) return;
    var opts = options(el);
    if (opts.beacon && !viewed[id]) {
      viewed[id] = 1; // one view per page view, however many blocks show this article
      beacon(endpoint(id, 'views'));
    }
    if (!w.fetch) return;
    el.classList.add('rp-loading');
    var controller = w.AbortController ? new AbortController() : null;
    var late = false;
    var timer = setTimeout(function () {
      late = true;
      if (controller) controller.abort();
      settle(el, 'rp-failed');
    }, opts.timeout);
    function ask(sections) {
      var query = '?limit=' + opts.limit + '&sections=' + sections.join(',') + '&window=' + opts.window;
      return w.fetch(endpoint(id, 'recommendations' + query), {
        credentials: 'omit',
        signal: controller ? controller.signal : undefined
      }).then(function (response) {
        var others = sections.filter(function (section) { return section !== 'related'; });
        // 503 index_not_ready: the server could not load its index; the other blocks still work.
        if (response.status === 503 && others.length && others.length < sections.length) return ask(others);
        if (!response.ok) throw new Error('HTTP ' + response.status);
        return response.json();
      });
    }
    ask(opts.sections)
      .then(function (answer) {
        if (late) return;
        clearTimeout(timer);
        render(el, id, answer, opts);
        settle(el, 'rp-ready');
      })
      .catch(function () {
        clearTimeout(timer);
        if (!late) settle(el, 'rp-failed'); // the service is down or answered an error: show nothing
      });
  }

  function addStyle() {
    if (d.getElementById(STYLE_ID)) return; // a site can supply its own element with this id
    var style = make('style', null, CSS);
    style.setAttribute('id', STYLE_ID);
    var head = d.head || d.documentElement;
    head.insertBefore(style, head.firstChild);
  }

  var scheduled = false;

  function scan() {
    scheduled = false;
    try {
      var found = d.querySelectorAll('[data-related-posts]');
      for (var i = 0; i < found.length; i += 1) {
        if (found[i].__relatedPosts) continue;
        found[i].__relatedPosts = 1;
        addStyle();
        load(found[i]);
      }
    } catch (e) {}
  }

  function later() {
    if (!scheduled) {
      scheduled = true;
      setTimeout(scan, 50);
    }
  }

  function start() {
    scan();
    // Blocks a page adds later (single-page sites) are filled too.
    try {
      if (w.MutationObserver) new MutationObserver(later).observe(d.documentElement, { childList: true, subtree: true });
    } catch (e) {}
  }

  if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', start);
  else start();
})();
