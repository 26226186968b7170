// Dash.format: how the dashboard writes numbers, times and states, the way
// `submit` writes them (submitter/human_renderer.cc FormatDuration,
// shared/resources.cc FormatAmount, submitter/step_table.cc ExitColumn), so
// the page and the terminal read alike. Pure functions, no DOM.
'use strict';
(function (Dash) {
  // "0.4s", "59.9s", "3m04s", "2h05m".
  function duration(ms) {
    if (!(ms > 0)) ms = 0;
    if (ms < 60000) return (ms / 1000).toFixed(1) + 's';
    if (ms < 3600000) {
      return Math.floor(ms / 60000) + 'm' + String(Math.floor(ms / 1000) % 60).padStart(2, '0') + 's';
    }
    return Math.floor(ms / 3600000) + 'h' + String(Math.floor(ms / 60000) % 60).padStart(2, '0') + 'm';
  }

  // An amount of resource `name`: mem in bytes as "8G", "3.9G" (one decimal,
  // rounded down, so a largest of 3.9G never reads as 4G); others as counts.
  function amount(name, value) {
    if (name !== 'mem' || !value) return String(value);
    const units = 'KMGTP';
    for (let u = 4; u >= 0; --u) {
      const unit = 2 ** (10 * (u + 1));
      if (value < unit) continue;
      if (value % unit === 0) return value / unit + units[u];
      return (Math.floor(value * 10 / unit) / 10).toFixed(1) + units[u];
    }
    return value + 'B';
  }

  // How long ago `ms` was beside the broker's `now_ms`: "now", "4 s ago",
  // "3 min ago", "2 h ago", "5 d ago"; "-" for 0 (never).
  function ago(ms, nowMs) {
    if (!ms) return '-';
    const s = Math.max(0, Math.round((nowMs - ms) / 1000));
    if (s < 1) return 'now';
    if (s < 120) return s + ' s ago';
    if (s < 7200) return Math.round(s / 60) + ' min ago';
    if (s < 172800) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' d ago';
  }

  const pad = (n) => String(n).padStart(2, '0');
  // When `ms` was, in the browser's time zone, as short as is clear beside
  // `nowMs` (submitter/time_text.h FormatWhen): "14:03:22" today,
  // "12-04 14:03" this year, "2025-12-04" before; "-" for 0.
  function when(ms, nowMs) {
    if (!ms) return '-';
    const d = new Date(ms), now = new Date(nowMs);
    const time = pad(d.getHours()) + ':' + pad(d.getMinutes());
    if (d.toDateString() === now.toDateString()) return time + ':' + pad(d.getSeconds());
    const day = pad(d.getMonth() + 1) + '-' + pad(d.getDate());
    if (d.getFullYear() === now.getFullYear()) return day + ' ' + time;
    return d.getFullYear() + '-' + day;
  }

  const kSignals = {1: 'HUP', 2: 'INT', 3: 'QUIT', 4: 'ILL', 6: 'ABRT', 7: 'BUS', 8: 'FPE', 9: 'KILL',
                    11: 'SEGV', 13: 'PIPE', 14: 'ALRM', 15: 'TERM', 24: 'XCPU', 25: 'XFSZ'};
  function signal(n) {
    return kSignals[n] ? 'SIG' + kSignals[n] : 'signal ' + n;
  }

  // The EXIT column of a step or an attempt: its outcome in a word.
  function exit(run) {
    switch (run.outcome) {
      case null: case undefined: return '-';
      case 'exited': return String(run.exit_code);
      case 'signaled': return signal(run.signal);
      case 'timed-out': return 'timeout';
      case 'spawn-failed': return 'no-start';
      case 'killed': return 'killed';
      case 'lost': return 'lost';
      case 'not-run': return 'not-run';
      case 'retracted': return 'moved';
      default: return run.outcome;
    }
  }

  // A job's step counts in the five parts of its progress bar. The broker
  // names the queued state "queued" (shared/states.cc); "ready" is read too.
  function progress(counts) {
    const c = (name) => (counts && counts[name]) || 0;
    return {
      done: c('succeeded') + c('not-needed'),
      running: c('running'),
      queued: c('waiting') + c('ready') + c('queued'),
      failed: c('failed'),
      skipped: c('skipped') + c('cancelled'),
    };
  }

  // "3 succeeded, 1 failed, 2 skipped": the non-zero counts, in the order
  // `submit` prints its summary.
  const kStateOrder = ['running', 'queued', 'ready', 'waiting', 'succeeded', 'failed', 'skipped',
                       'not-needed', 'cancelled'];
  function counts(counts) {
    return ordered(counts).map(([state, n]) => n + ' ' + state).join(', ') || 'no steps';
  }

  // The [state, count] pairs of `counts` with a count, in that order (any
  // state this page does not know last).
  function ordered(counts) {
    const states = kStateOrder.concat(Object.keys(counts || {}).filter((s) => !kStateOrder.includes(s)));
    return states.filter((s) => counts && counts[s] > 0).map((s) => [s, counts[s]]);
  }

  // The CSS class suffix of a step state: "ready" and "queued" are one.
  function stateClass(state) {
    return state === 'ready' ? 'queued' : state || 'unknown';
  }

  Dash.format = {duration, amount, ago, when, signal, exit, progress, counts, ordered, stateClass};
})(window.Dash = window.Dash || {});
