// Dash.overview: the workers table and the jobs table, from /api/overview,
// and the jobs filters (state, name glob, owner) that the next poll sends.
// Rows carry data-worker="NAME" and data-job="ID" (tests and users' own
// scripts find them by those); a click on a job's row opens #/jobs/ID.
'use strict';
(function (Dash) {
  const {el, syncRows} = Dash.dom;
  const f = Dash.format;

  function badge(text, kind) {
    return el('span', {class: 'badge ' + kind, text});
  }

  // A job's progress bar: done / running / queued / failed / skipped, each
  // part as wide as its share of the steps; the counts in its tooltip.
  function progressBar(job) {
    const p = f.progress(job.counts);
    const c = job.counts || {};
    const total = job.steps || Object.values(p).reduce((a, b) => a + b, 0);
    const title = `${p.done} done (${c.succeeded || 0} succeeded, ${c['not-needed'] || 0} not needed)\n` +
        `${p.running} running\n` +
        `${p.queued} queued (${c.waiting || 0} waiting, ${(c.ready || 0) + (c.queued || 0)} ready)\n` +
        `${p.failed} failed\n` +
        `${p.skipped} skipped (${c.skipped || 0} skipped, ${c.cancelled || 0} cancelled)`;
    const bar = el('div', {class: 'progress', title, role: 'img',
                           'aria-label': `${p.done} of ${total} steps done`});
    for (const part of ['done', 'running', 'queued', 'failed', 'skipped']) {
      if (p[part] > 0) {
        const seg = el('span', {class: 'seg seg-' + part, 'data-part': part, 'data-count': p[part]});
        seg.style.flexGrow = p[part];
        bar.append(seg);
      }
    }
    return el('div', {class: 'progress-cell'}, bar,
              el('span', {class: 'progress-text', text: `${p.done}/${total}`}));
  }

  function renderWorkers(data) {
    const now = data.now_ms;
    const tbody = document.querySelector('#workers tbody');
    const workers = data.workers || [];
    syncRows(tbody, workers, (w) => w.name, (w) => {
      const resources = (w.resources || []).map(
          (r) => `${r.name} ${f.amount(r.name, r.used)} / ${f.amount(r.name, r.total)}`);
      let stateTitle = null;
      if (w.slurm_job_id) {
        stateTitle = `Slurm job ${w.slurm_job_id}` +
            (w.time_left_ms ? `, ${f.duration(w.time_left_ms)} left` : '');
      }
      const heardTitle = `last heard ${f.when(w.heard_ms, now)}; connected ${f.when(w.connected_ms, now)}` +
          (w.silent_ms ? `; silent for ${f.duration(w.silent_ms)}` : '');
      const stateKind = 'w-' + String(w.state).replace(/ /g, '-');
      return {
        attrs: {'data-worker': w.name, 'data-state': w.state},
        cells: [
          {text: w.name, class: 'name'},
          w.host || '-',
          {text: `${w.slots_used} / ${w.slots}`, class: 'num' + (w.slots_used ? ' busy' : '')},
          resources.join(', ') || '-',
          (w.labels || []).join(', ') || '-',
          {node: () => badge(w.state, stateKind), key: w.state, title: stateTitle},
          {text: f.ago(w.heard_ms, now), title: heardTitle},
        ],
      };
    });
    const busy = workers.reduce((n, w) => n + (w.slots_used || 0), 0);
    const slots = workers.reduce((n, w) => n + (w.slots || 0), 0);
    document.getElementById('workers-note').textContent =
        workers.length ? `${workers.length} · ${busy} of ${slots} slots busy` : 'none connected';
  }

  function renderJobs(data) {
    const now = data.now_ms;
    const tbody = document.querySelector('#jobs tbody');
    const jobs = data.jobs || [];
    syncRows(tbody, jobs, (j) => j.id, (j) => {
      const link = `#/jobs/${j.id}`;
      const waiting = j.waiting || [];
      let why = j.reason || '';
      let whyTitle = j.reason || null;
      if (waiting.length) {
        why = waiting[0] + (waiting.length > 1 ? ` (+${waiting.length - 1} more)` : '');
        whyTitle = waiting.join('\n');
      }
      const end = j.ended_ms || now;
      return {
        attrs: {'data-job': j.id, 'data-state': j.state, class: 'clickable'},
        cells: [
          {node: () => el('a', {href: link, text: j.id}), key: j.id, class: 'num'},
          {node: () => el('a', {href: link, text: j.name}), key: j.name, class: 'name'},
          {node: () => badge(j.state, 's-' + f.stateClass(j.state)), key: j.state},
          j.owner || '-',
          f.when(j.submitted_ms, now),
          {text: f.duration(end - j.submitted_ms), class: 'num'},
          {node: () => progressBar(j), key: JSON.stringify([j.counts, j.steps])},
          {text: why || '', title: whyTitle, class: 'why'},
        ],
      };
    });
    const matched = data.jobs_matched ?? jobs.length;
    document.getElementById('jobs-note').textContent =
        matched > jobs.length ? `the newest ${jobs.length} of ${matched}` :
        matched ? `${matched}` : 'none match';
  }

  // The filters as /api/overview's query: {state, name, owner}.
  function filters() {
    const form = document.getElementById('filters');
    return {state: form.state.value, name: form.name.value.trim(), owner: form.owner.value.trim()};
  }

  // onChange() once the user stops typing for a moment, or picks a state.
  function watchFilters(onChange) {
    const form = document.getElementById('filters');
    let timer = 0;
    form.addEventListener('submit', (e) => e.preventDefault());
    form.addEventListener('input', (e) => {
      clearTimeout(timer);
      timer = setTimeout(onChange, e.target.tagName === 'SELECT' ? 0 : 300);
    });
    // A click anywhere on a job's row opens it, unless text was being selected.
    document.querySelector('#jobs tbody').addEventListener('click', (e) => {
      const row = e.target.closest('tr[data-job]');
      if (!row || e.target.closest('a') || String(window.getSelection())) return;
      location.hash = '#/jobs/' + row.dataset.job;
    });
  }

  Dash.overview = {renderWorkers, renderJobs, filters, watchFilters, progressBar};
})(window.Dash = window.Dash || {});
