//! Zero-shot classification: a text gets the label whose example sentences it is most
//! similar to, so any sentence model classifies without a trained head.

use std::collections::BTreeMap;

use codex_plugin::PluginError;

use super::model::{Guard, SentenceModel};

/// Labels and their example sentences, as given in config or in a call.
pub type LabelExamples = BTreeMap<String, Vec<String>>;

/// The labels used when neither config nor call gives any, so that `"I love this"`
/// classifies out of the box.
pub fn default_labels() -> LabelExamples {
    let positive = [
        "I love this.",
        "This is great, I'm really happy with it.",
        "Excellent work, thank you so much!",
        "What a wonderful experience.",
        "It works perfectly and I'm delighted.",
        "Fantastic quality, highly recommended.",
    ];
    let negative = [
        "I hate this.",
        "This is terrible, I'm really disappointed.",
        "Awful work, a complete waste of time.",
        "What a horrible experience.",
        "It is broken and I'm furious.",
        "Poor quality, would not recommend.",
    ];
    BTreeMap::from([
        ("positive".to_owned(), positive.map(str::to_owned).to_vec()),
        ("negative".to_owned(), negative.map(str::to_owned).to_vec()),
    ])
}

/// Rejects label sets a classification could not use.
pub fn validate_labels(labels: &LabelExamples) -> Result<(), PluginError> {
    if labels.is_empty() {
        return Err(PluginError::invalid_input(
            "labels must name at least one label with example sentences, \
             like {\"positive\": [\"I love it\"], \"negative\": [\"I hate it\"]}",
        ));
    }
    for (label, examples) in labels {
        if label.trim().is_empty() {
            return Err(PluginError::invalid_input("labels: a label name is empty"));
        }
        if examples.iter().all(|e| e.trim().is_empty()) {
            return Err(PluginError::invalid_input(format!(
                "labels: label '{label}' needs at least one non-empty example sentence"
            )));
        }
    }
    Ok(())
}

/// Labels with their examples already embedded.
#[derive(Debug, Clone)]
pub struct Prototypes {
    labels: Vec<String>,
    /// Per label, the mean of its examples' unit-length embeddings: its dot product with a
    /// unit-length text vector is the text's mean cosine similarity to those examples.
    means: Vec<Vec<f32>>,
}

impl Prototypes {
    /// Embeds every example of `labels` (in one batched run) and averages per label.
    pub fn build(
        model: &SentenceModel,
        labels: &LabelExamples,
        max_batch: usize,
        guard: Guard<'_>,
    ) -> Result<Prototypes, PluginError> {
        validate_labels(labels)?;
        let mut sentences = Vec::new();
        let mut owners = Vec::new();
        for (index, examples) in labels.values().enumerate() {
            for example in examples.iter().filter(|e| !e.trim().is_empty()) {
                sentences.push(example.clone());
                owners.push(index);
            }
        }
        let vectors = model.embed(&sentences, max_batch, guard)?;
        let dim = vectors.first().map_or(0, Vec::len);
        let mut sums = vec![vec![0f32; dim]; labels.len()];
        let mut counts = vec![0usize; labels.len()];
        for (vector, &owner) in vectors.iter().zip(&owners) {
            let unit = unit(vector);
            for (sum, x) in sums[owner].iter_mut().zip(unit) {
                *sum += x;
            }
            counts[owner] += 1;
        }
        let means = sums
            .into_iter()
            .zip(counts)
            .map(|(sum, count)| sum.into_iter().map(|x| x / count.max(1) as f32).collect())
            .collect();
        Ok(Prototypes {
            labels: labels.keys().cloned().collect(),
            means,
        })
    }

    /// Each label's mean cosine similarity to `vector`, in label order.
    pub fn scores(&self, vector: &[f32]) -> Vec<(String, f32)> {
        let unit = unit(vector);
        self.labels
            .iter()
            .zip(&self.means)
            .map(|(label, mean)| (label.clone(), dot(&unit, mean)))
            .collect()
    }
}

/// Cosine similarity; zero when either vector is all zeros.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let norms = dot(a, a).sqrt() * dot(b, b).sqrt();
    if norms > 0.0 { dot(a, b) / norms } else { 0.0 }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn unit(v: &[f32]) -> Vec<f32> {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_of_parallel_orthogonal_and_zero_vectors() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 3.0]), 0.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
    }

    #[test]
    fn label_sets_without_examples_are_rejected() {
        assert!(validate_labels(&BTreeMap::new()).is_err());
        let blank = BTreeMap::from([("positive".to_owned(), vec!["  ".to_owned()])]);
        let err = validate_labels(&blank).unwrap_err();
        assert!(err.to_string().contains("'positive'"), "{err}");
        assert!(validate_labels(&default_labels()).is_ok());
    }
}
