//! Probe physics: what a fridge, freezer, hot-holding well or cooling batch reads over
//! simulated time, and the small deterministic random source they draw from. Pure: no
//! clock, no I/O; time is seconds since the scenario started, so tests can run a whole
//! evening in microseconds and get the same numbers every time.
//!
//! The models are lumped: one air temperature driven by a thermostat (compressor or
//! heater), leakage to the kitchen, and the door; the probe itself sits in a buffer
//! (a glycol bottle or the food) and follows the air with a lag. That lag is why a door
//! opening shows as a gentle bump rather than a spike, as it does on real probes.

/// Fixed integration step in seconds. Rates are at most ~2e-3 per second, so explicit
/// Euler at 5 s stays well inside stability and accuracy for tenths of a degree.
pub const STEP_SECONDS: f64 = 5.0;

/// SplitMix64: 8 bytes of state, good enough statistics for a simulation, and the same
/// sequence for the same seed on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A generator for one device: the scenario seed mixed with the device's index.
    pub fn for_device(seed: u64, index: usize) -> Self {
        let mut mixer = Rng(seed ^ (index as u64).wrapping_mul(0xA076_1D64_78BD_642F));
        Rng(mixer.next_u64())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [low, high).
    pub fn between(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    /// Exponentially distributed with the given mean: the gap between Poisson events.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// Roughly normal noise (sum of four uniforms), mean 0 and the given deviation.
    pub fn noise(&mut self, deviation: f64) -> f64 {
        let sum: f64 = (0..4).map(|_| self.unit()).sum();
        // Four uniforms sum to mean 2, variance 4/12.
        (sum - 2.0) * deviation / (4.0f64 / 12.0).sqrt()
    }

    /// Index picked with the given weights.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut pick = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if pick < *w {
                return i;
            }
            pick -= w;
        }
        weights.len().saturating_sub(1)
    }
}

/// A reading as a probe reports it: tenths of a degree.
pub fn round_tenth(celsius: f64) -> f64 {
    (celsius * 10.0).round() / 10.0
}

/// Door openings of a fridge: random ones (a Poisson process while the kitchen is busy)
/// plus scripted ones the scenario needs, such as a long restock after a delivery.
#[derive(Debug, Clone)]
pub struct DoorPattern {
    /// Mean seconds between random openings; `None` for a door nobody opens.
    pub mean_gap_seconds: Option<f64>,
    /// Mean length of a random opening.
    pub mean_open_seconds: f64,
    /// (start, length) in scenario seconds, sorted by start.
    pub scripted: Vec<(f64, f64)>,
}

impl DoorPattern {
    pub fn closed() -> Self {
        Self {
            mean_gap_seconds: None,
            mean_open_seconds: 0.0,
            scripted: Vec::new(),
        }
    }

    pub fn busy(mean_gap_seconds: f64, mean_open_seconds: f64) -> Self {
        Self {
            mean_gap_seconds: Some(mean_gap_seconds),
            mean_open_seconds,
            scripted: Vec::new(),
        }
    }

    pub fn with_scripted(mut self, start: f64, length: f64) -> Self {
        self.scripted.push((start, length));
        self.scripted.sort_by(|a, b| a.0.total_cmp(&b.0));
        self
    }
}

/// The constants of a refrigerated cabinet. Rates are per second.
#[derive(Debug, Clone)]
pub struct CabinetParams {
    /// Thermostat target for the air.
    pub setpoint: f64,
    /// The compressor starts at setpoint + band and stops at setpoint - band.
    pub band: f64,
    /// The kitchen around it (Jakarta: warm).
    pub ambient: f64,
    /// Evaporator temperature the compressor pulls the air towards.
    pub evaporator: f64,
    /// Compressor pull per degree of difference to the evaporator.
    pub cooling_rate: f64,
    /// Leakage through walls and seals per degree of difference to the kitchen.
    pub leak_rate: f64,
    /// Extra leakage while the door is open.
    pub door_rate: f64,
    /// The probe follows the air with this time constant (its buffer).
    pub probe_lag_seconds: f64,
}

impl CabinetParams {
    /// A fridge holding 3 °C: the compressor runs about a third of the time, a cycle takes
    /// roughly 15 minutes, and a one-minute door opening bumps the probe by a few tenths.
    pub fn fridge() -> Self {
        Self {
            setpoint: 3.0,
            band: 1.0,
            ambient: 28.0,
            evaporator: -8.0,
            cooling_rate: 9.0e-4,
            leak_rate: 1.3e-4,
            door_rate: 1.7e-3,
            probe_lag_seconds: 600.0,
        }
    }

    /// A freezer holding -20 °C.
    pub fn freezer() -> Self {
        Self {
            setpoint: -20.0,
            band: 1.5,
            ambient: 28.0,
            evaporator: -30.0,
            cooling_rate: 1.5e-3,
            leak_rate: 1.0e-4,
            door_rate: 1.5e-3,
            probe_lag_seconds: 900.0,
        }
    }
}

/// A compressor that loses capacity: from `start` to `start + over` its efficiency falls
/// linearly from 1 to `floor` and stays there (a refrigerant leak, an iced evaporator).
#[derive(Debug, Clone, Copy)]
pub struct Degradation {
    pub start: f64,
    pub over: f64,
    pub floor: f64,
}

impl Degradation {
    /// Efficiency at scenario second `t`, 1 before the failure begins.
    pub fn factor(&self, t: f64) -> f64 {
        if t <= self.start {
            1.0
        } else if self.over <= 0.0 || t >= self.start + self.over {
            self.floor
        } else {
            1.0 - (1.0 - self.floor) * (t - self.start) / self.over
        }
    }
}

/// A fridge or freezer with a thermostat, a door and a buffered probe.
#[derive(Debug, Clone)]
pub struct Cabinet {
    params: CabinetParams,
    doors: DoorPattern,
    failure: Option<Degradation>,
    /// Scenario second the state is valid for.
    t: f64,
    air: f64,
    probe: f64,
    compressor_on: bool,
    /// While the door is open: when it closes.
    open_until: Option<f64>,
    /// When the next random opening starts.
    next_random_open: f64,
    next_scripted: usize,
    /// Compressor starts so far, for tests of the cycle.
    compressor_starts: u32,
}

impl Cabinet {
    /// A cabinet settled at its setpoint at scenario second 0.
    pub fn new(
        params: CabinetParams,
        doors: DoorPattern,
        failure: Option<Degradation>,
        rng: &mut Rng,
    ) -> Self {
        let air = params.setpoint + rng.between(-params.band, params.band);
        let next_random_open = doors
            .mean_gap_seconds
            .map_or(f64::INFINITY, |gap| rng.exponential(gap));
        Self {
            probe: air,
            air,
            compressor_on: rng.unit() < 0.4,
            params,
            doors,
            failure,
            t: 0.0,
            open_until: None,
            next_random_open,
            next_scripted: 0,
            compressor_starts: 0,
        }
    }

    pub fn probe_celsius(&self) -> f64 {
        self.probe
    }

    pub fn air_celsius(&self) -> f64 {
        self.air
    }

    pub fn door_open(&self) -> bool {
        self.open_until.is_some()
    }

    pub fn compressor_on(&self) -> bool {
        self.compressor_on
    }

    pub fn compressor_starts(&self) -> u32 {
        self.compressor_starts
    }

    /// Runs the physics forward to scenario second `until` (never backwards).
    pub fn advance(&mut self, until: f64, rng: &mut Rng) {
        while self.t < until {
            let dt = STEP_SECONDS.min(until - self.t);
            self.step(dt, rng);
        }
    }

    fn step(&mut self, dt: f64, rng: &mut Rng) {
        let t = self.t;
        self.update_door(t, rng);
        let p = &self.params;
        if self.air >= p.setpoint + p.band && !self.compressor_on {
            self.compressor_on = true;
            self.compressor_starts += 1;
        } else if self.air <= p.setpoint - p.band {
            self.compressor_on = false;
        }
        let efficiency = self.failure.map_or(1.0, |f| f.factor(t));
        let mut rate = p.leak_rate * (p.ambient - self.air);
        if self.compressor_on {
            rate -= p.cooling_rate * efficiency * (self.air - p.evaporator);
        }
        if self.open_until.is_some() {
            rate += p.door_rate * (p.ambient - self.air);
        }
        self.air += rate * dt;
        self.probe += (self.air - self.probe) * dt / p.probe_lag_seconds;
        self.t += dt;
    }

    fn update_door(&mut self, t: f64, rng: &mut Rng) {
        if let Some(close) = self.open_until
            && t >= close
        {
            self.open_until = None;
        }
        if let Some(&(start, length)) = self.doors.scripted.get(self.next_scripted)
            && t >= start
        {
            self.next_scripted += 1;
            self.open_until = Some(self.open_until.unwrap_or(t).max(start + length));
        }
        if t >= self.next_random_open {
            let length = rng
                .exponential(self.doors.mean_open_seconds)
                .clamp(5.0, 120.0);
            self.open_until = Some(self.open_until.unwrap_or(t).max(t + length));
            let gap = self.doors.mean_gap_seconds.unwrap_or(f64::INFINITY);
            self.next_random_open = t + length + rng.exponential(gap);
        }
    }
}

/// A hot-holding well (bain-marie): a heated water bath with a thermostat, food in it and
/// a probe in the food. Its heater can lose power over time (scale on the element, a
/// failing relay), and then the well drifts below its limit.
#[derive(Debug, Clone)]
pub struct HotWell {
    pub setpoint: f64,
    pub band: f64,
    pub ambient: f64,
    /// Heating rate at full power, degrees per second.
    pub heat_rate: f64,
    /// Loss per degree above the kitchen, per second.
    pub loss_rate: f64,
    pub probe_lag_seconds: f64,
    pub failure: Option<Degradation>,
    t: f64,
    water: f64,
    probe: f64,
    heater_on: bool,
}

impl HotWell {
    /// A well holding 72 °C, settled at scenario second 0. Open-topped, so it loses heat
    /// quickly (time constant about 40 minutes) and needs a strong heater.
    pub fn new(failure: Option<Degradation>, rng: &mut Rng) -> Self {
        let water = 72.0 + rng.between(-1.0, 1.0);
        Self {
            setpoint: 72.0,
            band: 1.0,
            ambient: 28.0,
            heat_rate: 0.048,
            loss_rate: 4.0e-4,
            probe_lag_seconds: 600.0,
            failure,
            t: 0.0,
            water,
            probe: water - 1.0,
            heater_on: false,
        }
    }

    pub fn probe_celsius(&self) -> f64 {
        self.probe
    }

    /// The hottest the bath can get with the heater on for good at efficiency `power`.
    pub fn ceiling(&self, power: f64) -> f64 {
        self.ambient + self.heat_rate * power / self.loss_rate
    }

    pub fn advance(&mut self, until: f64) {
        while self.t < until {
            let dt = STEP_SECONDS.min(until - self.t);
            if self.water <= self.setpoint - self.band {
                self.heater_on = true;
            } else if self.water >= self.setpoint + self.band {
                self.heater_on = false;
            }
            let power = self.failure.map_or(1.0, |f| f.factor(self.t));
            let mut rate = -self.loss_rate * (self.water - self.ambient);
            if self.heater_on {
                rate += self.heat_rate * power;
            }
            self.water += rate * dt;
            self.probe += (self.water - self.probe) * dt / self.probe_lag_seconds;
            self.t += dt;
        }
    }
}

/// Newton cooling of a cooked batch: `T(t) = surroundings + (start - surroundings) e^(-kt)`.
/// A shallow tray in a blast chiller cools fast; a deep pot with its lid on in a walk-in
/// cools slowly and fails the 2-hour stage.
#[derive(Debug, Clone, Copy)]
pub struct CoolingCurve {
    /// Core temperature when the batch goes in.
    pub start_celsius: f64,
    /// Air around the batch.
    pub surroundings_celsius: f64,
    /// Rate constant per hour.
    pub per_hour: f64,
}

impl CoolingCurve {
    /// Rendang in shallow trays in a blast chiller: 57 °C to 21 °C in about an hour, to
    /// 5 °C in about two and a half. Passes comfortably.
    pub fn blast_chiller() -> Self {
        Self {
            start_celsius: 72.0,
            surroundings_celsius: -2.0,
            per_hour: 0.9,
        }
    }

    /// A deep pot of soto broth with its lid on in the walk-in: misses the 2-hour stage.
    pub fn deep_pot_in_walk_in() -> Self {
        Self {
            start_celsius: 80.0,
            surroundings_celsius: 4.0,
            per_hour: 0.35,
        }
    }

    /// Core temperature `seconds` after the batch went in.
    pub fn celsius_after(&self, seconds: f64) -> f64 {
        let hours = seconds.max(0.0) / 3600.0;
        self.surroundings_celsius
            + (self.start_celsius - self.surroundings_celsius) * (-self.per_hour * hours).exp()
    }

    /// Seconds after going in when the core reaches `celsius`; `None` if it never does.
    pub fn seconds_to_reach(&self, celsius: f64) -> Option<f64> {
        let above = celsius - self.surroundings_celsius;
        let start = self.start_celsius - self.surroundings_celsius;
        if above <= 0.0 || self.per_hour <= 0.0 {
            return None;
        }
        if above >= start {
            return Some(0.0);
        }
        Some((start / above).ln() / self.per_hour * 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: f64 = 60.0;
    const HOUR: f64 = 3600.0;

    /// Samples the probe every minute from `from` to `to`.
    fn trace_cabinet(cabinet: &mut Cabinet, rng: &mut Rng, from: f64, to: f64) -> Vec<f64> {
        let mut out = Vec::new();
        let mut t = from;
        while t <= to {
            cabinet.advance(t, rng);
            out.push(cabinet.probe_celsius());
            t += MINUTE;
        }
        out
    }

    #[test]
    fn the_same_seed_gives_the_same_numbers() {
        let a: Vec<u64> = (0..5).map(|_| Rng::new(7).next_u64()).collect();
        let mut r = Rng::new(7);
        let b: Vec<u64> = (0..5).map(|_| r.next_u64()).collect();
        assert_eq!(a[0], b[0]);
        assert_ne!(b[0], b[1]);
        assert_ne!(
            Rng::for_device(1, 0).next_u64(),
            Rng::for_device(1, 1).next_u64()
        );
    }

    #[test]
    fn exponential_gaps_average_their_mean() {
        let mut rng = Rng::new(42);
        let n = 20_000;
        let mean = (0..n).map(|_| rng.exponential(90.0)).sum::<f64>() / n as f64;
        assert!((mean - 90.0).abs() < 3.0, "mean {mean}");
        let units: Vec<f64> = (0..1000).map(|_| rng.unit()).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
    }

    #[test]
    fn a_healthy_fridge_cycles_its_compressor_and_holds_between_2_and_4_degrees() {
        let mut rng = Rng::new(1);
        let mut fridge = Cabinet::new(
            CabinetParams::fridge(),
            DoorPattern::closed(),
            None,
            &mut rng,
        );
        let trace = trace_cabinet(&mut fridge, &mut rng, 0.0, 6.0 * HOUR);
        let settled = &trace[60..];
        let max = settled.iter().cloned().fold(f64::MIN, f64::max);
        let min = settled.iter().cloned().fold(f64::MAX, f64::min);
        assert!(max < 4.2 && min > 1.8, "range {min}..{max}");
        // A cycle of roughly 10-25 minutes: 15-40 starts in six hours.
        let starts = fridge.compressor_starts();
        assert!((15..=40).contains(&starts), "{starts} compressor starts");
    }

    #[test]
    fn short_door_openings_bump_the_probe_but_never_past_5_degrees() {
        let mut rng = Rng::new(2);
        let mut fridge = Cabinet::new(
            CabinetParams::fridge(),
            DoorPattern::busy(3.0 * MINUTE, 15.0),
            None,
            &mut rng,
        );
        let trace = trace_cabinet(&mut fridge, &mut rng, 0.0, 4.0 * HOUR);
        let max = trace.iter().cloned().fold(f64::MIN, f64::max);
        assert!(max < 5.0, "busy line fridge peaked at {max}");
        assert!(
            max > 3.5,
            "door openings should warm it a little, peak {max}"
        );
    }

    #[test]
    fn a_long_restock_opening_is_a_short_excursion_below_critical() {
        let mut rng = Rng::new(3);
        let mut fridge = Cabinet::new(
            CabinetParams::fridge(),
            DoorPattern::closed().with_scripted(HOUR, 4.5 * MINUTE),
            None,
            &mut rng,
        );
        let trace = trace_cabinet(&mut fridge, &mut rng, 0.0, 3.0 * HOUR);
        let peak = trace.iter().cloned().fold(f64::MIN, f64::max);
        let minutes_above_5 = trace.iter().filter(|c| **c > 5.0).count();
        assert!(peak > 5.0 && peak < 8.0, "peak {peak}");
        assert!(
            (1..15).contains(&minutes_above_5),
            "{minutes_above_5} minutes above 5 °C"
        );
    }

    #[test]
    fn a_failing_fridge_crosses_5_then_8_degrees_and_stays_there() {
        let failure = Degradation {
            start: HOUR,
            over: 2.5 * HOUR,
            floor: 0.08,
        };
        let mut rng = Rng::new(4);
        let mut fridge = Cabinet::new(
            CabinetParams::fridge(),
            DoorPattern::closed(),
            Some(failure),
            &mut rng,
        );
        let trace = trace_cabinet(&mut fridge, &mut rng, 0.0, 6.0 * HOUR);
        let first_above = |limit: f64| trace.iter().position(|c| *c > limit);
        let above_5 = first_above(5.0).expect("crosses 5 °C");
        let above_8 = first_above(8.0).expect("crosses 8 °C");
        assert!(above_5 > 60, "still healthy for the first hour");
        assert!(above_8 > above_5 + 15, "5 °C well before 8 °C");
        assert!(trace[above_5..].iter().all(|c| *c > 4.0));
        assert!(*trace.last().unwrap() > 10.0);
    }

    #[test]
    fn a_freezer_holds_below_minus_18() {
        let mut rng = Rng::new(5);
        let mut freezer = Cabinet::new(
            CabinetParams::freezer(),
            DoorPattern::busy(20.0 * MINUTE, 10.0),
            None,
            &mut rng,
        );
        let trace = trace_cabinet(&mut freezer, &mut rng, 0.0, 4.0 * HOUR);
        let max = trace.iter().cloned().fold(f64::MIN, f64::max);
        assert!(max < -18.0, "freezer peaked at {max}");
    }

    #[test]
    fn a_hot_well_holds_above_60_until_its_heater_weakens() {
        let failure = Degradation {
            start: 2.5 * HOUR,
            over: HOUR,
            floor: 0.2,
        };
        let mut rng = Rng::new(6);
        let mut well = HotWell::new(Some(failure), &mut rng);
        assert!(well.ceiling(1.0) > 100.0 && well.ceiling(0.2) < 54.0);
        let mut trace = Vec::new();
        for minute in 0..=360 {
            well.advance(minute as f64 * MINUTE);
            trace.push(well.probe_celsius());
        }
        assert!(
            trace[..150].iter().all(|c| *c > 68.0),
            "holds while healthy"
        );
        let below_60 = trace
            .iter()
            .position(|c| *c < 60.0)
            .expect("drifts below 60");
        let below_54 = trace.iter().position(|c| *c < 54.0).expect("then below 54");
        assert!(below_60 > 180, "drifts only well after the heater weakens");
        assert!(
            trace[below_60..].iter().all(|c| *c < 60.5),
            "and stays down"
        );
        // Under the limit but above critical for longer than a 15-minute alert delay.
        assert!(below_54 - below_60 > 30, "{below_60}..{below_54}");
    }

    #[test]
    fn a_blast_chilled_batch_meets_both_cooling_stages() {
        let curve = CoolingCurve::blast_chiller();
        let to_57 = curve.seconds_to_reach(57.0).unwrap();
        let to_21 = curve.seconds_to_reach(21.0).unwrap();
        let to_5 = curve.seconds_to_reach(5.0).unwrap();
        assert!(to_21 - to_57 < 2.0 * HOUR, "stage 1 took {}", to_21 - to_57);
        assert!(
            to_5 - to_57 < 6.0 * HOUR,
            "both stages took {}",
            to_5 - to_57
        );
        assert!((curve.celsius_after(to_21) - 21.0).abs() < 1e-9);
        assert!((curve.celsius_after(0.0) - 72.0).abs() < 1e-9);
    }

    #[test]
    fn a_deep_pot_in_the_walk_in_misses_the_two_hour_stage() {
        let curve = CoolingCurve::deep_pot_in_walk_in();
        let to_57 = curve.seconds_to_reach(57.0).unwrap();
        let at_deadline = curve.celsius_after(to_57 + 2.0 * HOUR);
        assert!(at_deadline > 21.0, "{at_deadline} °C at the 2-hour mark");
        assert!(
            curve.seconds_to_reach(3.0).is_none(),
            "never colder than 4 °C air"
        );
    }

    #[test]
    fn the_cooling_curve_falls_fastest_at_first() {
        let curve = CoolingCurve::blast_chiller();
        let first = curve.celsius_after(0.0) - curve.celsius_after(1800.0);
        let later = curve.celsius_after(3600.0) - curve.celsius_after(5400.0);
        assert!(first > 2.0 * later, "exponential: {first} then {later}");
    }
}
