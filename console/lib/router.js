// Hash routes ("#/jobs/12?status=failed"): the page works from a static file host with no
// server-side fallback, on the local stack and behind CloudFront alike.

const routes = [];

/** route("/jobs/:id", loader): `loader` returns (a promise of) a module with render(ctx) */
export function route(pattern, loader, options = {}) {
  const names = [];
  const regex = new RegExp("^" + pattern.replace(/:([a-z_]+)/gi, (_, name) => {
    names.push(name);
    return "([^/]+)";
  }) + "/?$");
  routes.push({ pattern, regex, names, loader, ...options });
}

/** the current location as {path, params, query, route} (route undefined: not found) */
export function current() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = raw.split("?");
  const query = Object.fromEntries(new URLSearchParams(search));
  for (const r of routes) {
    const match = r.regex.exec(path);
    if (match) {
      const params = {};
      r.names.forEach((name, i) => { params[name] = decodeURIComponent(match[i + 1]); });
      return { path, params, query, route: r };
    }
  }
  return { path, params: {}, query, route: undefined };
}

/** "#/jobs?status=failed" from a path and a query (empty values left out) */
export function href(path, query = {}) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, v);
  const text = params.toString();
  return "#" + path + (text ? "?" + text : "");
}

export function go(path, query) {
  location.hash = href(path, query).slice(1);
}

/** change the query of the current page without a new history entry or a re-render */
export function replaceQuery(query) {
  const { path } = current();
  history.replaceState(null, "", href(path, query));
}
