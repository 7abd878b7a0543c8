//! Play / pause. A recording replays at its recorded pace (entry times) times a speed; one
//! without times at ten transitions a second. Live, pausing holds the view where it is while
//! messages keep arriving; playing again follows the tail. The player only says how far to
//! go; [`App::tick`] moves the cursor.

use std::time::Instant;

use crate::app::App;

/// Rows per second when entries carry no time.
const UNTIMED_RATE: f64 = 10.0;

/// The player's state.
#[derive(Debug, Clone, Default)]
pub struct Player {
    /// Playing a recording.
    pub playing: bool,
    /// Speed as a power of two (0: ×1).
    pub speed_exp: i32,
    anchor: Option<(Instant, Option<u64>)>,
    stepped: u64,
}

impl Player {
    /// The speed factor.
    pub fn speed(&self) -> f64 {
        2f64.powi(self.speed_exp)
    }

    /// `×2`, `×1/4`.
    pub fn speed_label(&self) -> String {
        if self.speed_exp >= 0 {
            format!("{}", 1u64 << self.speed_exp)
        } else {
            format!("1/{}", 1u64 << -self.speed_exp)
        }
    }

    /// Faster (`> 0`) or slower, between ×1/16 and ×1024.
    pub fn change_speed(&mut self, d: i32) {
        self.speed_exp = (self.speed_exp + d.signum()).clamp(-4, 10);
        // keep the pace from here on
        if let Some((_, t)) = self.anchor {
            self.anchor = Some((Instant::now(), t));
            self.stepped = 0;
        }
    }

    /// Starts at an entry with time `at` (Unix ns, if it has one).
    pub fn start(&mut self, now: Instant, at: Option<u64>) {
        self.playing = true;
        self.anchor = Some((now, at));
        self.stepped = 0;
    }

    /// Stops.
    pub fn stop(&mut self) {
        self.playing = false;
        self.anchor = None;
    }

    /// Whether the next entry (time `next`, if any) is due at `now`; counts it when it is.
    pub fn due(&mut self, now: Instant, next: Option<u64>) -> bool {
        let Some((t0, at)) = self.anchor else { return false };
        let elapsed = now.saturating_duration_since(t0).as_secs_f64() * self.speed();
        let due = match (at, next) {
            (Some(a), Some(n)) => n.saturating_sub(a) as f64 <= elapsed * 1e9,
            _ => (self.stepped + 1) as f64 <= elapsed * UNTIMED_RATE,
        };
        if due {
            self.stepped += 1;
        }
        due
    }
}

/// Rows moved per tick at most, so a fast replay still draws.
const MAX_PER_TICK: usize = 10_000;

impl App {
    /// Play / pause (the key): live, hold or follow; a recording, replay from the cursor.
    pub fn play(&mut self, now: Instant) {
        if self.status.live {
            if self.following() {
                if let Some(c) = self.current() {
                    self.set_cursor(c);
                }
                self.status.notice = "paused: the view holds, messages keep arriving (Space follows)".into();
            } else {
                self.follow();
            }
            return;
        }
        if self.player.playing {
            self.player.stop();
            self.status.notice = "paused".into();
            return;
        }
        let rows = self.timeline().rows();
        // at the end: from the start
        let at = match self.current() {
            Some(c) if Some(&c) != rows.back() => c,
            _ => rows.front().copied().unwrap_or(0),
        };
        self.set_cursor(at);
        let time = self.current_tx().and_then(|t| t.time);
        self.player.start(now, time);
        self.status.notice = format!("playing ×{}", self.player.speed_label());
    }

    /// Advances a playing recording to what is due at `now`; returns whether it moved.
    pub fn tick(&mut self, now: Instant) -> bool {
        if !self.player.playing {
            return false;
        }
        let mut moved = false;
        for _ in 0..MAX_PER_TICK {
            let Some(cur) = self.current() else { break };
            let next = match self.timeline().position(cur) {
                Ok(p) => self.timeline().rows().get(p + 1).copied(),
                Err(_) => None,
            };
            let Some(next) = next else {
                self.player.stop();
                self.status.notice = "played to the end".into();
                break;
            };
            let time = self.selected().and_then(|m| m.tx(next)).and_then(|t| t.time);
            if !self.player.due(now, time) {
                break;
            }
            self.set_cursor(next);
            moved = true;
        }
        if moved {
            self.sync();
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn entries_come_due_at_their_recorded_pace_times_the_speed() {
        let mut p = Player::default();
        let t0 = Instant::now();
        p.start(t0, Some(1_000_000_000));
        assert!(!p.due(t0 + Duration::from_millis(500), Some(2_000_000_000)));
        assert!(p.due(t0 + Duration::from_millis(1000), Some(2_000_000_000)));
        p.change_speed(1);
        p.change_speed(1);
        assert_eq!(p.speed_label(), "4");
        p.start(t0, None);
        assert!(p.due(t0 + Duration::from_millis(100), None), "untimed: 10/s × 4 = one per 25 ms");
    }
}
