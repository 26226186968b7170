// Dash.api: the page's only way to the broker. GET requests for JSON, each
// carrying the token the page was opened with (/?token=T) as a header, so
// that it never shows in the broker's request lines; relative addresses, so
// the page works behind a proxy's path prefix and asks no other host.
'use strict';
(function (Dash) {
  const token = new URLSearchParams(location.search).get('token');

  // Thrown for anything but a 2xx with JSON: `status` is the HTTP status, or
  // 0 when the broker could not be reached at all.
  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // Each request gives up after this long, so a broker that accepts but never
  // answers shows as unreachable instead of stopping the polls.
  const kTimeoutMs = 5000;

  async function get(path, params) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== '' && value !== undefined && value !== null) query.set(key, value);
    }
    const url = path + (String(query) ? '?' + query : '');
    const headers = token ? {Authorization: 'Bearer ' + token} : {};
    let response;
    try {
      response = await fetch(url, {headers, cache: 'no-store', signal: AbortSignal.timeout(kTimeoutMs)});
    } catch (e) {
      throw new ApiError(0, 'no answer from the broker (' + e.message + ')');
    }
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      if (response.ok) throw new ApiError(response.status, 'the broker sent something that is not JSON');
    }
    if (!response.ok) {
      throw new ApiError(response.status, (body && body.error) || 'HTTP ' + response.status);
    }
    return body;
  }

  Dash.api = {
    ApiError,
    hasToken: !!token,
    overview: (filters) => get('api/overview', filters),
    job: (id) => get('api/jobs/' + encodeURIComponent(id)),
  };
})(window.Dash = window.Dash || {});
