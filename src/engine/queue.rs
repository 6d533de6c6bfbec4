//! The bounded FIFO of jobs waiting for the inference thread. The HTTP handlers push and remove
//! (cancel); the inference thread takes from it with `try_pop` while jobs run and blocks in `pop`
//! when it is idle. Closing it hands back whatever was waiting.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

use super::job::Job;

pub struct JobQueue {
    capacity: usize,
    state: Mutex<State>,
    ready: Condvar,
}

struct State {
    jobs: VecDeque<Job>,
    closed: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    Full,
    Closed,
}

impl JobQueue {
    pub fn new(capacity: usize) -> JobQueue {
        JobQueue { capacity, state: Mutex::new(State { jobs: VecDeque::new(), closed: false }), ready: Condvar::new() }
    }

    /// Appends `job` unless the queue is full or closed; the job comes back with the error.
    pub fn push(&self, job: Job) -> Result<(), (PushError, Job)> {
        let mut s = self.state.lock().unwrap();
        if s.closed {
            return Err((PushError::Closed, job));
        }
        if s.jobs.len() >= self.capacity {
            return Err((PushError::Full, job));
        }
        s.jobs.push_back(job);
        self.ready.notify_one();
        Ok(())
    }

    /// Takes a waiting job out by id (a cancel).
    pub fn remove(&self, job_id: &str) -> Option<Job> {
        let mut s = self.state.lock().unwrap();
        let at = s.jobs.iter().position(|j| j.spec.job_id == job_id)?;
        s.jobs.remove(at)
    }

    pub fn contains(&self, job_id: &str) -> bool {
        self.state.lock().unwrap().jobs.iter().any(|j| j.spec.job_id == job_id)
    }

    pub fn len(&self) -> usize {
        self.state.lock().unwrap().jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The oldest waiting job, without waiting.
    pub fn try_pop(&self) -> Option<Job> {
        self.state.lock().unwrap().jobs.pop_front()
    }

    pub fn is_closed(&self) -> bool {
        self.state.lock().unwrap().closed
    }

    /// Blocks until a job is waiting (Some) or the queue is closed and empty (None).
    pub fn pop(&self) -> Option<Job> {
        let mut s = self.state.lock().unwrap();
        loop {
            if let Some(job) = s.jobs.pop_front() {
                return Some(job);
            }
            if s.closed {
                return None;
            }
            s = self.ready.wait(s).unwrap();
        }
    }

    /// Refuses new jobs from now on and returns the ones still waiting.
    pub fn close(&self) -> Vec<Job> {
        let mut s = self.state.lock().unwrap();
        s.closed = true;
        self.ready.notify_all();
        s.jobs.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::job::{Endpoint, JobControl, JobSpec};
    use crate::ffi::SamplerParams;

    fn job(id: &str) -> Job {
        let (tx, _rx) = crate::engine::events::event_channel();
        let spec = JobSpec {
            job_id: id.into(),
            prompt: "p".into(),
            prompt_tokens: vec![1],
            max_tokens: 1,
            sampling: SamplerParams::default(),
            logit_bias: vec![],
            stop: vec![],
            logprobs: None,
            endpoint: Endpoint::Execute,
        };
        Job { spec, control: std::sync::Arc::new(JobControl::new(tx, Endpoint::Execute)) }
    }

    #[test]
    fn fifo_bounded_removable_and_closable() {
        let q = JobQueue::new(2);
        q.push(job("a")).unwrap();
        q.push(job("b")).unwrap();
        let (err, back) = q.push(job("c")).unwrap_err();
        assert_eq!(err, PushError::Full);
        assert_eq!(back.spec.job_id, "c");
        assert!(q.contains("b"));
        assert_eq!(q.remove("b").unwrap().spec.job_id, "b");
        assert!(q.remove("b").is_none());
        q.push(job("d")).unwrap();
        assert_eq!(q.try_pop().unwrap().spec.job_id, "a");
        q.push(job("f")).unwrap();
        assert_eq!(q.pop().unwrap().spec.job_id, "d");
        assert!(!q.is_closed());
        let left = q.close();
        assert_eq!(left.iter().map(|j| j.spec.job_id.as_str()).collect::<Vec<_>>(), ["f"]);
        assert!(q.is_closed());
        assert!(q.pop().is_none());
        assert!(q.try_pop().is_none());
        assert_eq!(q.push(job("e")).unwrap_err().0, PushError::Closed);
    }
}
