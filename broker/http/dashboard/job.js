// Dash.job: one job (#/jobs/ID) from /api/jobs/ID: its heading and counts,
// graph, timeline, step table and the last lines of each failed step's
// output. Hooks: #job-head[data-job], [data-count=STATE], tr[data-step=ID],
// [data-output-step=INDEX] (the step's index in "steps").
'use strict';
(function (Dash) {
  const {el, syncRows, replaceIfChanged} = Dash.dom;
  const f = Dash.format;

  // More rows than this make every poll slow; past it the table shows the
  // steps that did not succeed first (those are the ones looked for).
  const kMaxRows = 500;

  function renderHead(job) {
    const head = document.getElementById('job-head');
    const now = job.now_ms;
    const end = job.ended_ms || now;
    const counts = el('p', {class: 'counts'});
    for (const [state, n] of f.ordered(job.counts)) {
      counts.append(el('span', {class: 'count s-' + f.stateClass(state), 'data-count': state,
                                'data-n': n, text: `${n} ${state}`}));
    }
    const total = job.steps_total ?? (job.steps || []).length;
    const progress = Dash.overview.progressBar({counts: job.counts, steps: total});
    const key = JSON.stringify([job.id, job.name, job.state, job.owner, job.counts, job.reason,
                                job.submitted_ms, job.ended_ms, job.ended_ms ? 0 : Math.floor(now / 1000)]);
    replaceIfChanged(head, key, () => [
      el('h2', {}, `Job ${job.id} `, el('span', {class: 'job-name', text: job.name}), ' ',
         el('span', {class: 'badge s-' + f.stateClass(job.state), text: job.state})),
      el('p', {class: 'meta', text:
         `${job.owner ? 'by ' + job.owner + ' \u00b7 ' : ''}submitted ${f.when(job.submitted_ms, now)} \u00b7 ` +
         `${job.ended_ms ? 'took' : 'running for'} ${f.duration(end - job.submitted_ms)} \u00b7 ` +
         `${total} steps`}),
      progress,
      counts,
      job.reason ? el('p', {class: 'reason', text: job.reason}) : null,
    ].filter(Boolean));
    head.dataset.job = job.id;
    head.dataset.state = job.state;
  }

  function renderSteps(job) {
    const steps = (job.steps || []).map((s, index) => ({...s, index: s.index ?? index}));
    let shown = steps;
    if (steps.length > kMaxRows) {
      const done = (s) => s.state === 'succeeded' || s.state === 'not-needed';
      shown = steps.filter((s) => !done(s)).concat(steps.filter(done)).slice(0, kMaxRows);
    }
    syncRows(document.querySelector('#steps tbody'), shown, (s) => s.index, (s) => {
      const ran = s.outcome !== null && s.outcome !== undefined;
      return {
        attrs: {'data-step': s.id, 'data-state': s.state},
        cells: [
          {text: s.id, class: 'name' + (s.cleanup ? ' cleanup' : ''),
           title: s.cleanup ? 'a cleanup step ("when": "always"): it runs whatever happened' : null},
          {node: () => el('span', {class: 'badge s-' + f.stateClass(s.state), text: s.state}), key: s.state},
          {text: s.attempts ? String(s.attempts) : '-', class: 'num' + (s.attempts > 1 ? ' retried' : '')},
          s.worker || '-',
          {text: f.exit(s), class: 'num'},
          {text: ran ? f.duration(s.duration_ms) : '-', class: 'num'},
          {text: ran ? f.duration(s.cpu_ms) : '-', class: 'num'},
          {text: ran && s.max_rss_kb > 0 ? f.amount('mem', s.max_rss_kb * 1024) : '-', class: 'num'},
          {text: s.reason || '', class: 'why', title: s.reason || null},
        ],
      };
    });
    const total = job.steps_total ?? steps.length;
    document.getElementById('steps-note').textContent = job.omitted ? '' :
        steps.length < total ? `${total} steps: the ${steps.length} that did not succeed, failed and ` +
                               `running first; submit info ${job.id} lists them all` :
        shown.length < steps.length ?
        `the ${shown.length} of ${steps.length} that did not succeed first; submit info ${job.id} lists all` : '';
  }

  function renderOutput(job) {
    const output = job.output || {};
    replaceIfChanged(document.getElementById('output'), JSON.stringify(output), () => {
      const parts = [];
      const indexes = Object.keys(output).map(Number).sort((a, b) => a - b);
      if (indexes.length) parts.push(el('h3', {text: 'Output of failed steps'}));
      for (const i of indexes) {
        const step = {id: (job.output_ids || {})[i] || (job.steps[i] || {id: '#' + i}).id};
        const lines = output[i] || [];
        parts.push(el('section', {class: 'output', 'data-output-step': i, 'data-step': step.id},
                      el('h4', {}, el('span', {class: 'name', text: step.id}),
                         el('span', {class: 'note', text: ` last ${lines.length} lines \u00b7 ` +
                                                          `submit logs ${job.id} ${step.id}`})),
                      el('pre', {text: lines.join('\n')})));
      }
      return parts;
    });
  }

  // Draws `job`, the timeline as wide as its box.
  function render(job) {
    renderHead(job);
    document.getElementById('job-body').hidden = false;
    const width = document.getElementById('timeline').clientWidth || 1000;
    const steps = job.steps || [];
    const graphKey = JSON.stringify(steps.map((s) => [s.id, s.state, s.attempts, s.outcome]));
    const graphBox = document.getElementById('graph');
    const total = job.steps_total ?? steps.length;
    replaceIfChanged(graphBox, graphKey + total + (job.omitted || ''), () => {
      if (job.omitted) {
        document.getElementById('graph-note').textContent = job.omitted;
        return [];
      }
      if (steps.length < total) {
        document.getElementById('graph-note').textContent =
            `${total} steps: too many to draw here; submit info ${job.id} lists them`;
        return [];
      }
      const drawn = Dash.graph.draw(steps);
      document.getElementById('graph-note').textContent = drawn.note;
      return drawn.node;
    });
    const running = job.state === 'running';
    const timelineKey = JSON.stringify([job.attempts, job.lanes, running ? job.now_ms : 0, width]);
    replaceIfChanged(document.getElementById('timeline'), timelineKey, () => {
      if (job.omitted) {
        document.getElementById('timeline-note').textContent = '';
        return [];
      }
      const drawn = Dash.timeline.draw(job, width);
      const shown = (job.attempts || []).length;
      const all = job.attempts_total ?? shown;
      document.getElementById('timeline-note').textContent = drawn.note +
          (shown < all ? ` (the latest ${shown} of ${all}; submit trace ${job.id} has them all)` : '');
      return drawn.node;
    });
    renderSteps(job);
    renderOutput(job);
  }

  // The job view when there is no such job (404: never submitted, or
  // forgotten) or it cannot be read: the message, and nothing else.
  function renderMissing(id, message) {
    const head = document.getElementById('job-head');
    replaceIfChanged(head, 'missing:' + id + message, () => [
      el('h2', {text: `Job ${id}`}), el('p', {class: 'reason', text: message})]);
    head.dataset.job = id;
    head.dataset.state = 'missing';
    document.getElementById('job-body').hidden = true;
  }

  Dash.job = {render, renderMissing};
})(window.Dash = window.Dash || {});
