//! Many threads mutating one machine: no deadlock, every queued mutation executed exactly
//! once and in queue-tick order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use am_core::{Args, Handlers, Machine, MutResult, Mutation, Schema, State, Tracer, Transition};

#[derive(Default)]
struct Ticks {
    queued: Mutex<Vec<u64>>,
    executed: Mutex<Vec<u64>>,
}

impl Tracer for Ticks {
    fn id(&self) -> &str {
        "ticks"
    }
    fn mutation_queued(&self, _m: &Machine, mu: &Mutation) {
        if mu.queue_tick() != 0 {
            self.queued.lock().unwrap().push(mu.queue_tick());
        }
    }
    fn transition_init(&self, tx: &Transition<'_>) {
        let t = tx.mutation().queue_tick();
        if t != 0 {
            self.executed.lock().unwrap().push(t);
        }
    }
}

#[test]
fn many_threads_one_machine() {
    const THREADS: usize = 8;
    const EACH: usize = 300;
    let schema = Schema::builder()
        .state("Work", State::new().multi())
        .state("Ping", State::new().remove(["Pong"]))
        .state("Pong", State::new().remove(["Ping"]))
        .state("Auto", State::new().auto().require(["Ping"]))
        .build()
        .unwrap();
    let ticks = Arc::new(Ticks::default());
    let m = Machine::builder(schema).queue_limit(usize::MAX).tracer(ticks.clone()).build();
    // handlers queue more work from inside transitions
    m.bind_handlers(Handlers::new("h").state("Ping", |e| {
        e.machine().add(&["Pong"]).unwrap();
    }))
    .unwrap();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let m = m.clone();
            std::thread::spawn(move || {
                let mut results = Vec::new();
                for i in 0..EACH {
                    let args = Args::new().with("thread", t as i64).with("i", i as i64);
                    let r = if i % 3 == 0 { m.add(&["Ping"]) } else { m.add_args(&["Work"], args) };
                    results.push(r.unwrap());
                }
                results
            })
        })
        .collect();
    let mut executed_by_caller = 0;
    for h in handles {
        for r in h.join().expect("no thread panicked") {
            assert_ne!(r, MutResult::Canceled);
            if r == MutResult::Executed {
                executed_by_caller += 1;
            }
        }
    }
    assert!(executed_by_caller > 0);
    m.when_queue_ends().wait_timeout(Duration::from_secs(10)).expect("queue drained");
    assert_eq!(m.queue_len(), 0);
    let mut queued = ticks.queued.lock().unwrap().clone();
    let executed = ticks.executed.lock().unwrap().clone();
    // executed in strictly increasing queue-tick order, each exactly once
    assert!(executed.windows(2).all(|w| w[0] < w[1]), "out of order");
    queued.sort_unstable();
    assert_eq!(queued, executed, "every queued mutation runs exactly once");
    assert_eq!(m.queue_tick(), *executed.last().unwrap());
    // every Work mutation carried args, so none were de-duplicated
    let work_ticks = m.tick("Work").unwrap();
    let works = THREADS * (EACH - EACH.div_ceil(3));
    assert_eq!(work_ticks, 1 + 2 * (works as u64 - 1));
}

#[test]
fn waits_across_threads() {
    let m = Machine::new(Schema::builder().states(["A", "B"]).build().unwrap());
    let w = m.when(&["A", "B"]).unwrap();
    let m2 = m.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        m2.add(&["A"]).unwrap();
        m2.add(&["B"]).unwrap();
    });
    assert_eq!(w.wait_timeout(Duration::from_secs(5)), Ok(()));
    t.join().unwrap();
    let ctx = m.state_ctx("A").unwrap();
    let cancelled = ctx.cancelled();
    let m3 = m.clone();
    std::thread::spawn(move || m3.remove(&["A"]).unwrap()).join().unwrap();
    assert_eq!(cancelled.wait_timeout(Duration::from_secs(5)), Ok(()));
}

#[test]
fn wait_cancelled_by_token() {
    let m = Machine::new(Schema::builder().states(["A", "B"]).build().unwrap());
    m.add(&["B"]).unwrap();
    let token = m.state_ctx("B").unwrap();
    let w = m.when(&["A"]).unwrap().cancel_on(&token);
    m.remove(&["B"]).unwrap();
    assert_eq!(w.wait_timeout(Duration::from_secs(1)), Err(am_core::WaitError::Cancelled));
}

#[test]
fn futures_on_a_plain_executor() {
    // a minimal executor: poll with a thread-parking waker
    use std::future::Future;
    use std::task::{Context, Poll, Wake, Waker};
    struct Park(std::thread::Thread);
    impl Wake for Park {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let m = Machine::new(Schema::builder().states(["A"]).build().unwrap());
    let mut w = Box::pin(m.when(&["A"]).unwrap());
    let waker = Waker::from(Arc::new(Park(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    assert!(w.as_mut().poll(&mut cx).is_pending());
    let m2 = m.clone();
    std::thread::spawn(move || m2.add(&["A"]).unwrap());
    loop {
        if let Poll::Ready(r) = w.as_mut().poll(&mut cx) {
            assert_eq!(r, Ok(()));
            break;
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

/// A final handler is not blamed for the time the runner waited on the machine's lock before
/// applying the transition (another thread held it: here a slow `when_query` check).
#[test]
fn waiting_for_the_lock_before_apply_is_not_a_final_handlers_time() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::mpsc;
    let m = Machine::builder(Schema::builder().states(["A"]).build().unwrap())
        .handler_timeout(Duration::from_millis(200))
        .build();
    let (tx, rx) = mpsc::channel::<()>();
    let tx = Mutex::new(tx);
    m.bind_handlers(
        Handlers::new("h")
            .enter("A", move |_| {
                let _ = tx.lock().unwrap().send(());
                // the other thread takes the lock meanwhile
                std::thread::sleep(Duration::from_millis(50));
                true
            })
            .state("A", |_| {}),
    )
    .unwrap();
    let m2 = m.clone();
    let holder = std::thread::spawn(move || {
        rx.recv().unwrap();
        let first = AtomicBool::new(true);
        // runs under the machine's lock: the first check holds it for 400 ms
        let _w = m2.when_query(move |_| {
            if first.swap(false, SeqCst) {
                std::thread::sleep(Duration::from_millis(400));
            }
            false
        });
    });
    assert_eq!(m.add(&["A"]).unwrap(), MutResult::Executed);
    holder.join().unwrap();
    assert!(!m.is_err(), "the final handler was timed out: {:?}", m.last_error());
}

/// A machine without handlers, tracers or auto states writes a transition's clocks under the
/// runner's next lock (its pop or release), not under a lock of their own: a `when` made
/// from another thread in between, or a state context taken then, still sees the change.
#[test]
fn waits_made_while_clocks_are_unpublished_complete() {
    const ROUNDS: usize = 3_000;
    let m = Machine::new(Schema::builder().states(["A", "B"]).build().unwrap());
    for round in 0..ROUNDS {
        let runner = {
            let m = m.clone();
            std::thread::spawn(move || {
                m.add(&["A"]).unwrap();
                m.add(&["B"]).unwrap();
            })
        };
        // races the two transitions: made before, between or after either
        let both = m.when(&["A", "B"]).unwrap();
        let tick = m.when_time(&["B"], &[(2 * round + 1) as u64]).unwrap();
        let query = m.when_query(|t| t[0] % 2 == 1);
        runner.join().unwrap();
        for (what, w) in [("when", both), ("when_time", tick), ("when_query", query)] {
            assert_eq!(w.wait_timeout(Duration::from_secs(5)), Ok(()), "{what}, round {round}: {}", m.string());
        }
        // a context taken while A may be on its way out is cancelled by that very change
        let ctx = m.state_ctx("A").unwrap();
        let remover = {
            let m = m.clone();
            std::thread::spawn(move || m.remove(&["A", "B"]).unwrap())
        };
        let gone = m.when_not(&["A", "B"]).unwrap();
        remover.join().unwrap();
        assert_eq!(gone.wait_timeout(Duration::from_secs(5)), Ok(()), "when_not, round {round}");
        assert_eq!(ctx.cancelled().wait_timeout(Duration::from_secs(5)), Ok(()), "state ctx, round {round}");
        assert!(m.not(&["A", "B"]).unwrap());
    }
}

/// Queued mutations from many threads on a machine without handlers or tracers (clocks
/// written by the runner's next pop): every caller sees its own transition's result in the
/// machine when its call returns Executed, and the last clocks add up.
#[test]
fn queued_runs_publish_every_transition() {
    const THREADS: usize = 4;
    const EACH: usize = 2_000;
    const OWN: [&str; THREADS] = ["A", "B", "C", "D"];
    let schema = Schema::builder().state("N", State::new().multi()).states(OWN).build().unwrap();
    let m = Machine::builder(schema).queue_limit(usize::MAX).build();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let m = m.clone();
            std::thread::spawn(move || {
                let waiter = m.when_ticks("N", EACH as u64).unwrap();
                for i in 0..EACH {
                    // args keep the queue from merging duplicates
                    let args = || Args::new().with("t", t as i64).with("i", i as i64);
                    m.add_args(&["N"], args()).unwrap();
                    if i % 2 == 0 {
                        m.add_args(&[OWN[t]], args()).unwrap();
                    } else {
                        m.remove_args(&[OWN[t]], args()).unwrap();
                    }
                }
                waiter.wait_timeout(Duration::from_secs(10)).unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().expect("no thread panicked");
    }
    m.when_queue_ends().wait_timeout(Duration::from_secs(10)).expect("queue drained");
    // N entered THREADS * EACH times: 1 tick for the first, 2 for each re-entry
    assert_eq!(m.tick("N").unwrap(), 1 + 2 * (THREADS * EACH - 1) as u64);
    // each thread's own state: entered and left EACH / 2 times, in its order
    for s in OWN {
        assert_eq!(m.tick(s).unwrap(), EACH as u64, "{s}");
    }
    assert_eq!(m.time().iter().sum::<u64>(), m.tick("N").unwrap() + 4 * EACH as u64);
}

/// Waits made as fast as one thread can while another runs a single transition: some land
/// between the transition's decision to leave its clocks to the runner's next lock and that
/// lock; every one of them completes.
#[test]
fn waits_made_during_a_transition_complete() {
    let m = Machine::new(Schema::builder().states(["A"]).build().unwrap());
    for round in 0..1_000 {
        let go = Arc::new(std::sync::Barrier::new(2));
        let runner = {
            let (m, go) = (m.clone(), go.clone());
            std::thread::spawn(move || {
                go.wait();
                m.add(&["A"]).unwrap();
            })
        };
        go.wait();
        let mut waits = Vec::new();
        while waits.len() < 256 {
            waits.push(m.when(&["A"]).unwrap());
            if m.is1("A") {
                break;
            }
        }
        runner.join().unwrap();
        for (n, w) in waits.into_iter().enumerate() {
            assert_eq!(w.wait_timeout(Duration::from_secs(2)), Ok(()), "round {round}, wait {n}");
        }
        m.remove(&["A"]).unwrap();
    }
}
