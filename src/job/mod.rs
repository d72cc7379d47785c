//! The job, step by step: load the templates, resolve the user, find the
//! command, prepare the secrets directory, read the secrets, render them,
//! then check, or write and start the command.

mod read;
mod refresh;
mod render;
mod report;
mod start;

use std::time::Instant;

use crate::config::Plan;
use crate::error::Error;
use crate::launch::{self, signals, user};
use crate::retry::Deadline;

/// Runs the plan. Returns the exit code: `--check`'s, or the command's when
/// kvinit waits for it (`--init`, Windows). Otherwise success replaces this
/// process, so it returns only on failure.
pub fn run(mut plan: Plan, original: signals::Original) -> Result<i32, Error> {
    let started = Instant::now();
    let guard = signals::StartupGuard::start();
    let deadline = Deadline::after(plan.timeout);
    read::load_templates(&mut plan)?;
    let ids = plan.launch.user.as_ref().map(user::resolve).transpose().map_err(Error::User)?;
    if !plan.check {
        start::find_command(&plan, ids.as_ref())?;
    }
    let dir = start::prepare_dir(&plan, ids.as_ref())?;
    let (reads, session) = read::read_secrets(&mut plan, deadline)?;
    let until = std::time::Instant::now() + deadline.remaining();
    let certs = render::Certs::new(reads.secrets.len(), until);
    let (rendered, failures) = render::render(&reads, &plan.launch.env, render::Scope::All, &certs);
    if plan.check {
        report::print_check(&reads, &rendered);
    }
    if let Some(failures) = failures {
        return Err(failures.into_error(reads));
    }
    if plan.check {
        return Ok(0);
    }
    if let Some(dir) = &dir {
        let values = rendered.iter().filter_map(|r| Some((r.output, r.value.as_ref()?)));
        render::write_files(dir, values).map_err(Error::File)?;
    }
    let home = ids.as_ref().and_then(|ids| ids.home.clone());
    let env = render::child_env(&plan.launch.env, home.as_deref(), &rendered);
    guard.stop();
    let program = &plan.launch.command[0];
    let Some(init) = &plan.launch.init else {
        if let Some(ids) = &ids {
            user::switch(ids).map_err(Error::User)?;
        }
        report::success(program, &reads, &rendered, started);
        return start::exec(&plan.launch, env, original);
    };
    report::success(program, &reads, &rendered, started);
    // Refresh renders again from what was read; the rendered values go now.
    drop(rendered);
    let sentinel = plan.sentinel.take().map(|s| {
        let seen = reads.secrets.iter().position(|r| r.reference == s.reference);
        let version = seen.and_then(|i| reads.fetched[i].as_ref().ok()).map(|f| f.id.clone());
        (s, version)
    });
    // A restart and the hook both need the command's environment re-rendered.
    let restarts = init.on_change == launch::OnChange::Restart;
    let rerender = (restarts || init.hook.is_some()).then(|| (plan.launch.env.clone(), home));
    let refresh = session.filter(|_| init.refresh.is_some()).map(|session| read::Running {
        session,
        reads,
        dir,
        sentinel,
        rerender,
        restarts,
    });
    start::supervise(&plan.launch, init, plan.timeout, start::Start { env, original, ids, refresh })
}
