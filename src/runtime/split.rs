//! Where decode steps run the layers the GPU does not hold: uploaded for every step, as ComfyUI
//! streams them, or computed on the CPU where they lie in wasm memory, as llama.cpp's `-ngl`
//! split does. A decode step reads each weight once for one token, so the upload costs as much
//! as the compute it feeds; whether the CPU is cheaper depends on the machine (upload bandwidth,
//! GPU and CPU speed), so it is measured rather than guessed.
//!
//! Decode steps 1–2 upload and steps 3–4 compute on the CPU; the second step of each is timed
//! (the first of each pays one-off costs: shader compilation, moving the KV cache), and the
//! faster one serves the remaining steps and later generations of the model.
//!
//! The prompt (prefill) uploads, where one upload serves every prompt token, unless the model's
//! measured decode steps show the CPU to be surely faster for it: a prompt pass with uploads costs
//! at least a decode step with uploads, and a prompt on the CPU at most its tokens × a CPU decode
//! step (a batch of rows costs no more per row than one row), so the prompt runs on the CPU when
//! `tokens × cpu step < upload step`. Between the two bounds it uploads.

use serde::Serialize;

use crate::exec::{ForwardStats, NonResident};

/// Decode steps (counted from 1) of the measurement, and which of them are timed.
const UPLOAD_STEPS: std::ops::RangeInclusive<usize> = 1..=2;
const CPU_STEPS: std::ops::RangeInclusive<usize> = 3..=4;

/// Where a generation's decode steps ran the layers the GPU does not hold, and why.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecodeSplit {
    /// `"gpu"`: uploaded for each step; `"cpu"`: computed on the CPU from wasm memory;
    /// `"none"`: nothing to choose (every layer resident, or no GPU).
    pub non_resident_on: &'static str,
    /// The measurement or the rule behind the choice, in words.
    pub reason: String,
    /// Milliseconds of a timed decode step with the layers uploaded (head excluded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_step_ms: Option<f64>,
    /// Milliseconds of a timed decode step with the layers on the CPU (head excluded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_step_ms: Option<f64>,
}

impl DecodeSplit {
    /// Nothing to choose, for `reason`.
    fn none(reason: &str) -> Self {
        Self {
            non_resident_on: "none",
            reason: reason.into(),
            ..Self::default()
        }
    }
}

/// Where a generation's prompt ran the layers the GPU does not hold, and why.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrefillSplit {
    /// `"gpu"`, `"cpu"` or `"none"`, as [`DecodeSplit::non_resident_on`].
    pub non_resident_on: &'static str,
    /// The rule and the measured numbers behind the choice, in words.
    pub reason: String,
}

/// The choice for one generation as its steps come: measuring first unless the model already
/// knows the answer.
#[derive(Debug)]
pub(crate) struct SplitChooser {
    known: Option<DecodeSplit>,
    prefill: PrefillSplit,
    upload_ms: Option<f64>,
    cpu_ms: Option<f64>,
}

impl SplitChooser {
    /// Starts from what an earlier generation of the model measured, if anything, for a prompt
    /// of `prompt_tokens`.
    pub fn new(known: Option<DecodeSplit>, prompt_tokens: usize) -> Self {
        Self {
            prefill: prefill_split(known.as_ref(), prompt_tokens),
            known,
            upload_ms: None,
            cpu_ms: None,
        }
    }

    /// Where decode step `step` (1 for the first generated token after the prompt's; 0 for the
    /// prompt) runs the non-resident layers.
    pub fn for_step(&self, step: usize) -> NonResident {
        if step == 0 {
            return match self.prefill.non_resident_on {
                "cpu" => NonResident::OnCpu,
                _ => NonResident::Upload,
            };
        }
        if let Some(known) = &self.known {
            return match known.non_resident_on {
                "cpu" => NonResident::OnCpu,
                _ => NonResident::Upload,
            };
        }
        match CPU_STEPS.contains(&step) {
            true => NonResident::OnCpu,
            false => NonResident::Upload,
        }
    }

    /// Records decode step `step`, which took `forward_ms` with the `stats` it reports.
    pub fn record(&mut self, step: usize, forward_ms: f64, stats: &ForwardStats) {
        if self.known.is_some() {
            return;
        }
        if step == *UPLOAD_STEPS.end() && stats.cpu_layers == 0 {
            self.upload_ms = Some(forward_ms);
        }
        if step == *CPU_STEPS.end() && stats.cpu_layers > 0 {
            self.cpu_ms = Some(forward_ms);
        }
        if let (Some(upload), Some(cpu)) = (self.upload_ms, self.cpu_ms) {
            self.known = Some(decide(upload, cpu, stats.cpu_layers));
        }
    }

    /// Where the prompt ran, given the `prefill` stats it reported on a GPU (`on_gpu`).
    pub fn prefill_outcome(&self, on_gpu: bool, prefill: &ForwardStats) -> PrefillSplit {
        let none = |reason: &str| PrefillSplit {
            non_resident_on: "none",
            reason: reason.into(),
        };
        match (on_gpu, prefill.streamed_layers + prefill.cpu_layers) {
            (false, _) => none(NO_GPU),
            (true, 0) => none(ALL_RESIDENT),
            _ => self.prefill.clone(),
        }
    }

    /// The decode outcome for a generation whose prompt ran with `prefill` on a GPU (`on_gpu`),
    /// and whether the model should remember it (not while the measurement is unfinished).
    pub fn outcome(&self, on_gpu: bool, prefill: &ForwardStats) -> (DecodeSplit, bool) {
        if !on_gpu {
            return (DecodeSplit::none(NO_GPU), false);
        }
        if prefill.streamed_layers == 0 && self.known.is_none() {
            return (DecodeSplit::none(ALL_RESIDENT), false);
        }
        match &self.known {
            Some(known) => (known.clone(), true),
            None => {
                let mut unfinished = DecodeSplit::none(
                    "too few decode steps to measure (5 needed): the layers were uploaded, \
                     then computed on the CPU",
                );
                (unfinished.upload_step_ms, unfinished.cpu_step_ms) = (self.upload_ms, self.cpu_ms);
                (unfinished, false)
            }
        }
    }
}

const NO_GPU: &str = "no GPU: every layer runs on the CPU";
const ALL_RESIDENT: &str = "every layer is resident on the GPU";

/// The prompt's side of the split: the CPU where the model's measured decode steps bound it to
/// be faster for `tokens` (see the module's doc), else uploads.
fn prefill_split(known: Option<&DecodeSplit>, tokens: usize) -> PrefillSplit {
    let measured = known.and_then(|k| Some((k.upload_step_ms?, k.cpu_step_ms?)));
    let Some((upload, cpu)) = measured else {
        return PrefillSplit {
            non_resident_on: "gpu",
            reason: "uploaded: one upload serves every prompt token (no measured decode steps \
                     to compare with yet)"
                .into(),
        };
    };
    let bound = tokens as f64 * cpu;
    let on_cpu = bound < upload;
    let reason = format!(
        "{}: {tokens} prompt tokens × {cpu:.1} ms (a measured decode step on the CPU) = \
         {bound:.1} ms {} {upload:.1} ms (a measured decode step with uploads, which a prompt \
         pass costs at least)",
        if on_cpu { "on the CPU" } else { "uploaded" },
        if on_cpu { "<" } else { "≥" },
    );
    PrefillSplit {
        non_resident_on: if on_cpu { "cpu" } else { "gpu" },
        reason,
    }
}

/// The faster of the two measured steps; `layers` ran on the CPU in the CPU one.
fn decide(upload_ms: f64, cpu_ms: f64, layers: usize) -> DecodeSplit {
    let cpu = cpu_ms < upload_ms;
    let (faster, slower) = if cpu {
        (cpu_ms, upload_ms)
    } else {
        (upload_ms, cpu_ms)
    };
    let reason = format!(
        "measured: a decode step took {upload_ms:.1} ms with the {layers} non-resident layers \
         uploaded and {cpu_ms:.1} ms with them computed on the CPU; {} is {:.2}× faster",
        if cpu { "the CPU" } else { "uploading" },
        slower / faster.max(1e-9),
    );
    DecodeSplit {
        non_resident_on: if cpu { "cpu" } else { "gpu" },
        reason,
        upload_step_ms: Some(upload_ms),
        cpu_step_ms: Some(cpu_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(cpu_layers: usize, streamed_layers: usize) -> ForwardStats {
        ForwardStats {
            cpu_layers,
            streamed_layers,
            ..ForwardStats::default()
        }
    }

    #[test]
    fn uploads_then_measures_the_cpu_then_keeps_the_faster() {
        for (upload, cpu, want) in [(80.0, 20.0, "cpu"), (10.0, 30.0, "gpu")] {
            let mut chooser = SplitChooser::new(None, 13);
            let steps: Vec<NonResident> = (0..=6).map(|s| chooser.for_step(s)).collect();
            use NonResident::{OnCpu, Upload};
            assert_eq!(steps[..5], [Upload, Upload, Upload, OnCpu, OnCpu]);
            for step in 1..=4 {
                let on_cpu = chooser.for_step(step) == OnCpu;
                let ms = if on_cpu { cpu } else { upload };
                let counts = if on_cpu { stats(7, 0) } else { stats(0, 7) };
                chooser.record(step, ms, &counts);
            }
            let want_step = if want == "cpu" { OnCpu } else { Upload };
            assert_eq!(chooser.for_step(5), want_step);
            let (split, remember) = chooser.outcome(true, &stats(0, 7));
            assert!(remember);
            assert_eq!(split.non_resident_on, want);
            assert_eq!(
                (split.upload_step_ms, split.cpu_step_ms),
                (Some(upload), Some(cpu))
            );
            assert!(
                split.reason.contains("7 non-resident layers"),
                "{}",
                split.reason
            );
            // A later generation starts from the answer, without measuring; its prompt of
            // 13 tokens uploads (13 × 20 ms ≥ 80 ms).
            let again = SplitChooser::new(Some(split), 13);
            assert_eq!(again.for_step(0), Upload);
            assert!((1..=6).all(|s| again.for_step(s) == want_step));
        }
    }

    #[test]
    fn the_prompt_runs_on_the_cpu_only_where_the_measured_steps_bound_it_faster() {
        let known = decide(4000.0, 60.0, 31);
        let chooser = |tokens| SplitChooser::new(Some(known.clone()), tokens);
        // 66 × 60 = 3960 < 4000: the CPU; 67 × 60 = 4020 ≥ 4000: uploads.
        assert_eq!(chooser(66).for_step(0), NonResident::OnCpu);
        assert_eq!(chooser(67).for_step(0), NonResident::Upload);
        let said = chooser(3).prefill_outcome(true, &stats(31, 0));
        assert_eq!(said.non_resident_on, "cpu");
        assert!(
            said.reason.contains("3 prompt tokens × 60.0 ms"),
            "{}",
            said.reason
        );
        let said = chooser(67).prefill_outcome(true, &stats(0, 31));
        assert!(
            said.reason.starts_with("uploaded: 67 prompt tokens"),
            "{}",
            said.reason
        );
        // Uploading won the decode steps: a one-token prompt still uploads.
        let slow_cpu = SplitChooser::new(Some(decide(50.0, 80.0, 31)), 1);
        assert_eq!(slow_cpu.for_step(0), NonResident::Upload);
        // Nothing measured yet: uploads, and says so; nothing off the GPU or no GPU: "none".
        let fresh = SplitChooser::new(None, 1);
        assert_eq!(fresh.for_step(0), NonResident::Upload);
        let said = fresh.prefill_outcome(true, &stats(0, 31));
        assert!(
            said.reason.contains("no measured decode steps"),
            "{}",
            said.reason
        );
        assert_eq!(
            fresh.prefill_outcome(true, &stats(0, 0)).non_resident_on,
            "none"
        );
        assert_eq!(
            fresh.prefill_outcome(false, &stats(0, 0)).non_resident_on,
            "none"
        );
    }

    #[test]
    fn nothing_to_choose_or_too_few_steps_is_said_and_not_remembered() {
        let chooser = SplitChooser::new(None, 13);
        let (split, remember) = chooser.outcome(false, &stats(0, 0));
        assert_eq!((split.non_resident_on, remember), ("none", false));
        assert!(split.reason.contains("no GPU"));
        let (split, _) = chooser.outcome(true, &stats(0, 0));
        assert!(split.reason.contains("resident"), "{}", split.reason);
        let mut short = SplitChooser::new(None, 13);
        short.record(2, 50.0, &stats(0, 7));
        let (split, remember) = short.outcome(true, &stats(0, 7));
        assert!(!remember && split.reason.contains("too few"), "{split:?}");
        assert_eq!(split.upload_step_ms, Some(50.0));
    }
}
