//! ComfyUI's `load_models_gpu`: free what is needed, then give each model its weight budget.

use super::error::ManagerError;
use super::free::{free_memory, partially_unload};
use super::host::{stage_on_host, upload};
use super::plan::WeightBudget;
use super::planner::Planner;
use super::request::LoadRequest;
use super::spec::ModelId;
use super::tier::Tier;
use super::weights::{lowvram_weight_budget, pick_largest_first};
use crate::policy::units::scale;
use crate::policy::{Decision, VramState};

/// ComfyUI frees `1.1 ×` the weight bytes a load needs: 10% headroom for fragmentation.
pub const LOAD_HEADROOM_PERCENT: u64 = 110;

/// Plans a load, ComfyUI's way:
///
/// 1. needed = Σ offloaded bytes of the requested models;
/// 2. `free_memory(1.1 × needed + max(minimum_inference, memory_required + reserve))`, then, if
///    less than `minimum_memory_required` is free, `free_memory(minimum_memory_required)`;
/// 3. each model gets its weight budget (see [`load_one`]) and goes to the front of the loaded list.
///
/// Browser differences: the requested models are never unloaded by their own load (ComfyUI
/// may unload a requested model and reload it at once); a model whose largest layer plus
/// inference memory cannot fit the budget less the reserve is an error, not an OOM; in
/// `DISABLED` the weights go to wasm memory instead.
pub(crate) fn plan_load(
    planner: &mut Planner<'_>,
    request: &LoadRequest,
) -> Result<(), ManagerError> {
    let ids = requested(planner, request)?;
    if planner.decision.state == VramState::Disabled {
        return ids
            .iter()
            .try_for_each(|id| load_on_host(planner, *id, &ids));
    }
    check_fits(planner, &ids, request)?;
    let (extra, minimum_required) = requirements(planner.decision, request);
    let needed: u64 = (ids.iter().filter_map(|id| planner.entry(*id)))
        .map(|entry| entry.offloaded_bytes())
        .sum();
    let required = scale(needed, LOAD_HEADROOM_PERCENT, 100).saturating_add(extra);
    free_memory(planner, required, &ids);
    if planner.free() < minimum_required {
        free_memory(planner, minimum_required, &ids);
    }
    let force = request.force_full_load;
    ids.iter()
        .try_for_each(|id| load_one(planner, *id, minimum_required, force, &ids))
}

/// The requested models, checked and without duplicates, in request order.
fn requested(planner: &Planner<'_>, request: &LoadRequest) -> Result<Vec<ModelId>, ManagerError> {
    let mut ids: Vec<ModelId> = Vec::new();
    for id in &request.models {
        planner.books.entry(*id)?;
        if !ids.contains(id) {
            ids.push(*id);
        }
    }
    Ok(ids)
}

/// ComfyUI's `extra_mem` and `minimum_memory_required`:
/// `extra = max(minimum_inference, memory_required + reserve)`, and the minimum is
/// `max(minimum_inference, minimum_memory_required + reserve)`, defaulting to `extra`.
fn requirements(decision: &Decision, request: &LoadRequest) -> (u64, u64) {
    let minimum_inference = decision.minimum_inference_memory();
    let reserve = decision.reserve_bytes;
    let extra = minimum_inference.max(request.memory_required.saturating_add(reserve));
    let minimum = (request.minimum_memory_required).map_or(extra, |bytes| {
        minimum_inference.max(bytes.saturating_add(reserve))
    });
    (extra, minimum)
}

/// Gives one model its GPU weight budget ([`weight_budget`]), then places its layers: layers
/// already on the GPU stay and the rest are picked largest first; when the budget is below what
/// is loaded the model shrinks, smallest layers first (ComfyUI leaves such layers on the GPU,
/// uncounted). Layers left off the GPU wait in wasm memory.
fn load_one(
    planner: &mut Planner<'_>,
    id: ModelId,
    minimum_required: u64,
    force: bool,
    keep: &[ModelId],
) -> Result<(), ManagerError> {
    let budget = weight_budget(planner, id, minimum_required, force)?;
    planner.note_budget(budget);
    let (loaded, target) = (budget.loaded_bytes, budget.budget_bytes);
    let off_gpu = planner.layers_where(id, |state| state.tier != Tier::Gpu);
    let picked = if target < loaded {
        partially_unload(planner, id, loaded - target);
        Vec::new()
    } else if budget.full_load {
        off_gpu.iter().map(|(layer, _)| *layer).collect()
    } else {
        pick_largest_first(&off_gpu, loaded, target)
    };
    for (layer, _) in planner.layers_where(id, |state| state.tier != Tier::Gpu) {
        if !picked.contains(&layer) {
            stage_on_host(planner, id, layer, keep);
        }
    }
    for layer in picked {
        upload(planner, id, layer);
    }
    planner.mark_loaded(id);
    Ok(())
}

/// The GPU bytes one model may hold after the load.
///
/// `cur` = free budget + the model's GPU bytes. The budget is ComfyUI's: in `LOW_VRAM` and
/// `NORMAL_VRAM` the low-VRAM formula ([`lowvram_weight_budget`]); in `NO_VRAM` nothing; in
/// `HIGH_VRAM` and `SHARED`, or when forced, the whole model. webvram caps it at
/// `cur − reserve` so no weight sits in the reserve; a whole model that does not fit becomes a
/// partial load (ComfyUI would run out of memory), or an error when forced.
fn weight_budget(
    planner: &Planner<'_>,
    id: ModelId,
    minimum_required: u64,
    force: bool,
) -> Result<WeightBudget, ManagerError> {
    let decision = planner.decision;
    let (size, name) = planner
        .entry(id)
        .map_or((0, String::new()), |e| (e.model.size, e.model.name.clone()));
    let loaded = planner.books.model_gpu_bytes(id);
    let cur = planner.free().saturating_add(loaded);
    let usable = cur.saturating_sub(decision.reserve_bytes);
    let whole = force || !decision.state.uses_weight_budget();
    let (budget, full) = match decision.state {
        VramState::NoVram | VramState::Disabled => (0, false),
        _ if whole && size <= usable => (size, true),
        _ if force => {
            let what = "a forced full load";
            let (needed, available, tier) = (size, usable, Tier::Gpu);
            return Err(ManagerError::DoesNotFit {
                model: name,
                needed,
                available,
                tier,
                what,
            });
        }
        VramState::LowVram | VramState::NormalVram => {
            let minimum_inference = decision.minimum_inference_memory();
            let ratio = decision.min_weight_ratio_permille;
            let formula = lowvram_weight_budget(cur, minimum_required, minimum_inference, ratio);
            (formula.min(usable), false)
        }
        VramState::HighVram | VramState::Shared => (usable, false),
    };
    Ok(WeightBudget {
        model: id,
        loaded_bytes: loaded,
        current_free_bytes: cur,
        budget_bytes: budget,
        full_load: full,
    })
}

/// The CPU path (`DISABLED`): no GPU; every layer goes to wasm memory as far as it fits.
fn load_on_host(
    planner: &mut Planner<'_>,
    id: ModelId,
    keep: &[ModelId],
) -> Result<(), ManagerError> {
    let Some(entry) = planner.entry(id) else {
        return Ok(());
    };
    let host_budget = planner.decision.host_budget_bytes;
    if entry.model.largest_layer > host_budget {
        let (model, needed) = (entry.model.name.clone(), entry.model.largest_layer);
        let what = "its largest layer on the CPU path (raise `hostBudget`)";
        return Err(ManagerError::DoesNotFit {
            model,
            needed,
            available: host_budget,
            tier: Tier::Host,
            what,
        });
    }
    for (layer, _) in planner.layers_where(id, |state| state.tier == Tier::Gpu) {
        planner.release_gpu(id, layer);
    }
    for (layer, _) in planner.layers_where(id, |state| state.tier != Tier::Host) {
        stage_on_host(planner, id, layer, keep);
    }
    planner.mark_loaded(id);
    Ok(())
}

/// Every requested model must be able to run at all: its largest layer (streamed in for its
/// forward call) plus the least inference memory must fit the budget less the reserve.
fn check_fits(
    planner: &Planner<'_>,
    ids: &[ModelId],
    request: &LoadRequest,
) -> Result<(), ManagerError> {
    let inference = request
        .minimum_memory_required
        .unwrap_or(request.memory_required);
    let available = planner.decision.usable_bytes();
    for entry in ids.iter().filter_map(|id| planner.entry(*id)) {
        let needed = entry.model.largest_layer.saturating_add(inference);
        if needed > available {
            let (model, what) = (
                entry.model.name.clone(),
                "its largest layer plus inference memory",
            );
            return Err(ManagerError::DoesNotFit {
                model,
                needed,
                available,
                tier: Tier::Gpu,
                what,
            });
        }
    }
    Ok(())
}
