// Dash's main loop: routes (#/ the overview, #/jobs/ID one job), polls the
// broker once a second and draws what came. The overview is asked for on
// every poll; a job while it runs, and once more after it ended. A failed
// poll shows the "unreachable" banner, and the next one that works takes it
// away: nothing needs a reload. <body data-loaded="1"> once the first
// answers (the overview, and the job shown) are drawn.
'use strict';
(function (Dash) {
  const {api, format: f} = Dash;
  const kPollMs = 1000;

  const view = {
    jobId: null,        // the job shown, or null: the overview
    jobDone: false,     // it ended and its final state is drawn: stop asking
    job: null,          // its last answer, to redraw on resize
    pending: 0,         // the next poll's timer
    busy: false,        // a poll is under way
    again: false,       // poll once more as soon as it ends
    downSince: 0,       // when polls started failing (browser clock), 0: they work
  };

  function route() {
    const match = /^#\/jobs\/(\d+)$/.exec(location.hash);
    const id = match ? match[1] : null;
    if (id !== view.jobId) {
      view.jobId = id;
      view.jobDone = false;
      view.job = null;
    }
    document.getElementById('jobs-panel').hidden = id !== null;
    document.getElementById('job-panel').hidden = id === null;
    if (id === null) document.title = 'Drover';
    pollNow();
  }

  function showBanner(error) {
    const banner = document.getElementById('banner');
    if (!error) {
      banner.hidden = true;
      view.downSince = 0;
      delete document.body.dataset.unreachable;
      return;
    }
    if (!view.downSince) view.downSince = Date.now();
    let text;
    if (error.status === 401 || error.status === 403) {
      text = api.hasToken ?
          'The broker refused this page\u2019s token. Open the page again with the right one: /?token=TOKEN' :
          'The broker wants a token (--http-token-file). Open the page as /?token=TOKEN';
    } else {
      const since = f.when(view.downSince, Date.now());
      text = (error.status === 0 ? `Broker unreachable since ${since}: ` :
                                   `The broker has answered with an error since ${since}: `) +
             `${error.message}. Trying again every second; what is shown is from before.`;
    }
    banner.textContent = text;
    banner.hidden = false;
    document.body.dataset.unreachable = '1';
  }

  function drawOverview(data) {
    Dash.overview.renderWorkers(data);
    Dash.overview.renderJobs(data);
    const b = data.broker || {};
    document.getElementById('broker-info').textContent =
        (b.http ? b.http + ' \u00b7 ' : '') + (b.started_ms ? 'up for ' + f.duration(data.now_ms - b.started_ms) : '');
    document.getElementById('clock').textContent = f.when(data.now_ms, data.now_ms);
  }

  function drawJob(job) {
    view.job = job;
    Dash.job.render(job);
    document.title = `Job ${job.id} (${job.name}) ${job.state} \u00b7 Drover`;
  }

  async function poll() {
    const jobId = view.jobId;
    const askJob = jobId !== null && !view.jobDone;
    const [overview, job] = await Promise.allSettled([
      api.overview(Dash.overview.filters()),
      askJob ? api.job(jobId) : Promise.resolve(null),
    ]);
    if (overview.status === 'fulfilled') drawOverview(overview.value);
    let failure = overview.status === 'rejected' ? overview.reason : null;
    if (jobId === view.jobId && askJob) {
      if (job.status === 'fulfilled') {
        drawJob(job.value);
        view.jobDone = job.value.state !== 'running';
      } else if (job.reason.status === 404) {
        Dash.job.renderMissing(jobId, job.reason.message);
        view.jobDone = true;
      } else {
        failure = failure || job.reason;
      }
    }
    showBanner(failure);
    if (!failure && (view.jobId === null || view.jobDone || view.job)) {
      document.body.dataset.loaded = '1';
    }
  }

  async function loop() {
    clearTimeout(view.pending);
    if (view.busy) {
      view.again = true;
      return;
    }
    view.busy = true;
    try {
      await poll();
    } catch (e) {
      // A bug in drawing, not the broker: an error in the console (the
      // browser test fails on one), and the polls go on.
      console.error('dashboard:', e);
    } finally {
      view.busy = false;
    }
    if (view.again) {
      view.again = false;
      loop();
    } else {
      view.pending = setTimeout(loop, kPollMs);
    }
  }

  function pollNow() {
    loop();
  }

  let resizeTimer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (view.job && view.jobId !== null) drawJob(view.job); }, 150);
  });
  window.addEventListener('hashchange', route);
  Dash.overview.watchFilters(pollNow);
  route();
})(window.Dash = window.Dash || {});
