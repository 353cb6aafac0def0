//! The learning-rate schedule: linear warmup, then cosine decay to `min_lr`.

use super::config::OptimizerConfig;

/// Learning rate at each optimizer step.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Peak rate.
    pub lr: f64,
    /// Final rate.
    pub min_lr: f64,
    /// Steps of linear warmup.
    pub warmup: u64,
    /// Step at which the cosine reaches `min_lr`.
    pub decay_end: u64,
}

impl Schedule {
    /// The schedule of `o` for a run of `total_steps`.
    pub fn new(o: &OptimizerConfig, total_steps: u64) -> Self {
        Schedule {
            lr: o.lr,
            min_lr: o.min_lr,
            warmup: o.warmup_steps,
            decay_end: o.decay_steps.unwrap_or(total_steps),
        }
    }

    /// The rate of step `step` (0-based: the first update uses `lr(0)`). Warmup ramps
    /// `lr * (step + 1) / warmup`, so no step runs at rate 0.
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup {
            return self.lr * (step + 1) as f64 / self.warmup as f64;
        }
        if step >= self.decay_end || self.decay_end <= self.warmup {
            return if step >= self.decay_end {
                self.min_lr
            } else {
                self.lr
            };
        }
        let progress = (step - self.warmup) as f64 / (self.decay_end - self.warmup) as f64;
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        self.min_lr + cosine * (self.lr - self.min_lr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine() {
        let s = Schedule {
            lr: 1.0,
            min_lr: 0.1,
            warmup: 10,
            decay_end: 110,
        };
        assert_eq!(s.lr(0), 0.1);
        assert_eq!(s.lr(9), 1.0);
        assert_eq!(s.lr(10), 1.0);
        assert!((s.lr(60) - 0.55).abs() < 1e-12);
        assert!((s.lr(109) - 0.1).abs() < 1e-3);
        assert_eq!(s.lr(110), 0.1);
        assert_eq!(s.lr(500), 0.1);
        let monotone = (10..110).all(|i| s.lr(i + 1) <= s.lr(i));
        assert!(monotone);
    }

    #[test]
    fn no_warmup_no_decay() {
        let s = Schedule {
            lr: 0.5,
            min_lr: 0.5,
            warmup: 0,
            decay_end: 0,
        };
        assert_eq!(s.lr(0), 0.5);
        assert_eq!(s.lr(7), 0.5);
    }
}
