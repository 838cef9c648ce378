//! Sentence-transformers pooling: how token vectors become one sentence vector,
//! read from the model folder's `modules.json` and pooling `config.json`.

use std::path::{Path, PathBuf};

use candle_core::{D, DType, Tensor};
use codex_plugin::PluginError;
use serde::Deserialize;

use super::model::file_error;

/// One way of reducing token vectors to a sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PoolingMode {
    Cls,
    Max,
    Mean,
    MeanSqrtLen,
}

impl PoolingMode {
    fn as_str(self) -> &'static str {
        match self {
            PoolingMode::Cls => "cls",
            PoolingMode::Max => "max",
            PoolingMode::Mean => "mean",
            PoolingMode::MeanSqrtLen => "mean_sqrt_len",
        }
    }
}

/// The pooling a sentence model asks for, and whether it L2-normalises afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pooling {
    /// In sentence-transformers' concatenation order (cls, max, mean, mean_sqrt_len).
    pub modes: Vec<PoolingMode>,
    pub normalize: bool,
    /// Where the pooling came from, for the output (`1_Pooling/config.json` or "default").
    pub source: String,
}

impl Pooling {
    /// `mean`, or `cls+mean` when several modes are concatenated.
    pub fn describe(&self) -> String {
        self.modes
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join("+")
    }

    /// Reads the pooling of the model in `dir`.
    ///
    /// `modules.json` (when present) names the Pooling module's folder and says whether a
    /// Normalize module follows; without it `1_Pooling/config.json` is tried; without either
    /// the default holds: mean pooling, no normalisation.
    pub fn load(dir: &Path) -> Result<Pooling, PluginError> {
        let modules_path = dir.join("modules.json");
        let mut pooling_dir = Some(PathBuf::from("1_Pooling"));
        let mut normalize = false;
        if modules_path.is_file() {
            let text =
                std::fs::read_to_string(&modules_path).map_err(|e| file_error(&modules_path, e))?;
            let modules: Vec<ModuleEntry> =
                serde_json::from_str(&text).map_err(|e| file_error(&modules_path, e))?;
            pooling_dir = modules
                .iter()
                .find(|m| m.kind.ends_with(".Pooling"))
                .map(|m| PathBuf::from(&m.path));
            normalize = modules.iter().any(|m| m.kind.ends_with(".Normalize"));
        }
        let config_path = pooling_dir.map(|p| dir.join(p).join("config.json"));
        let Some(config_path) = config_path.filter(|p| p.is_file()) else {
            return Ok(Pooling {
                modes: vec![PoolingMode::Mean],
                normalize,
                source: "default".to_owned(),
            });
        };
        let text =
            std::fs::read_to_string(&config_path).map_err(|e| file_error(&config_path, e))?;
        let config: PoolingConfig =
            serde_json::from_str(&text).map_err(|e| file_error(&config_path, e))?;
        if config.pooling_mode_weightedmean_tokens || config.pooling_mode_lasttoken {
            return Err(file_error(
                &config_path,
                "weighted-mean and last-token pooling are not supported",
            ));
        }
        let modes: Vec<PoolingMode> = [
            (config.pooling_mode_cls_token, PoolingMode::Cls),
            (config.pooling_mode_max_tokens, PoolingMode::Max),
            (config.pooling_mode_mean_tokens, PoolingMode::Mean),
            (
                config.pooling_mode_mean_sqrt_len_tokens,
                PoolingMode::MeanSqrtLen,
            ),
        ]
        .into_iter()
        .filter_map(|(on, mode)| on.then_some(mode))
        .collect();
        if modes.is_empty() {
            return Err(file_error(&config_path, "no pooling mode is enabled"));
        }
        let source = config_path
            .strip_prefix(dir)
            .unwrap_or(&config_path)
            .display()
            .to_string();
        Ok(Pooling {
            modes,
            normalize,
            source,
        })
    }

    /// Pools `hidden` (batch, tokens, dim) under `mask` (batch, tokens; 1 for real tokens)
    /// into (batch, dim × modes), normalised when the model says so.
    pub fn apply(&self, hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let mask = mask.to_dtype(hidden.dtype())?.unsqueeze(2)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::INFINITY)?;
        let mut parts = Vec::with_capacity(self.modes.len());
        for mode in &self.modes {
            let part = match mode {
                PoolingMode::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
                PoolingMode::Max => {
                    // Padding gets a very low value so it never wins the max.
                    let penalty = ((&mask - 1.0)? * 1e9)?;
                    hidden.broadcast_add(&penalty)?.max(1)?
                }
                PoolingMode::Mean => hidden
                    .broadcast_mul(&mask)?
                    .sum(1)?
                    .broadcast_div(&counts)?,
                PoolingMode::MeanSqrtLen => hidden
                    .broadcast_mul(&mask)?
                    .sum(1)?
                    .broadcast_div(&counts.sqrt()?)?,
            };
            parts.push(part);
        }
        let pooled = Tensor::cat(&parts, 1)?;
        if self.normalize {
            l2_normalize(&pooled)
        } else {
            Ok(pooled)
        }
    }
}

/// Divides each row by its L2 norm (rows of zeros stay zero).
pub(crate) fn l2_normalize(x: &Tensor) -> candle_core::Result<Tensor> {
    let norms = x
        .to_dtype(DType::F32)?
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::INFINITY)?;
    x.broadcast_div(&norms)
}

#[derive(Debug, Deserialize)]
struct ModuleEntry {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PoolingConfig {
    pooling_mode_cls_token: bool,
    pooling_mode_mean_tokens: bool,
    pooling_mode_max_tokens: bool,
    pooling_mode_mean_sqrt_len_tokens: bool,
    pooling_mode_weightedmean_tokens: bool,
    pooling_mode_lasttoken: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn pool(modes: Vec<PoolingMode>, normalize: bool) -> Vec<Vec<f32>> {
        let pooling = Pooling {
            modes,
            normalize,
            source: "test".into(),
        };
        // Two sentences of three tokens, dim 2; the second has one padding token.
        let hidden = Tensor::new(
            &[
                [[1f32, 2.], [3., 4.], [5., 6.]],
                [[1., -1.], [3., 1.], [100., 100.]],
            ],
            &Device::Cpu,
        )
        .unwrap();
        let mask = Tensor::new(&[[1u32, 1, 1], [1, 1, 0]], &Device::Cpu).unwrap();
        pooling.apply(&hidden, &mask).unwrap().to_vec2().unwrap()
    }

    #[test]
    fn mean_pooling_ignores_padding() {
        assert_eq!(
            pool(vec![PoolingMode::Mean], false),
            vec![vec![3., 4.], vec![2., 0.]]
        );
    }

    #[test]
    fn max_and_cls_pooling_concatenate_in_order() {
        assert_eq!(
            pool(vec![PoolingMode::Cls, PoolingMode::Max], false),
            vec![vec![1., 2., 5., 6.], vec![1., -1., 3., 1.]]
        );
    }

    #[test]
    fn normalised_rows_have_unit_length() {
        let rows = pool(vec![PoolingMode::Mean], true);
        assert!((rows[0][0] - 0.6).abs() < 1e-6 && (rows[0][1] - 0.8).abs() < 1e-6);
        assert_eq!(rows[1], vec![1., 0.]);
    }
}
