//! `livehook template`: the per-provider parts of `template.yaml`, written
//! from the registry (`providers::ALL`) as `livehook schema` writes the
//! catalog, so that every provider gets its secret parameters, role, log
//! group, function, URL output, alarms and dashboard widgets by
//! construction. (CloudFormation's own loop, `Fn::ForEach`, cannot carry
//! them: `sam build` of `rust-cargolambda` functions gives every function of
//! a loop the first one's artifact, and Parameters and Rules cannot loop.)
//!
//! Each part lies between a `# BEGIN generated: <part>` and a
//! `# END generated: <part>` line and is written at the marker's
//! indentation; everything else is written by hand and kept as it is.
//!
//! A provider's function (with its role, log group, output, alarms and
//! widgets) exists only when its secret is given, by value or by reference:
//! a deployer supplies the secrets of the platforms they use, never every
//! platform's. A rule refuses a stack given none.

mod alarms;
mod dashboard;
mod resources;

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use livehook::providers::{self, Deployment, Provider, SecretSpec, Setting};

#[derive(Debug, Args)]
#[command(
    about = "Rewrite the per-provider parts of the SAM template from the registry",
    long_about = "Rewrite the per-provider parts of the SAM template from the provider \
        registry: each secret's parameters, conditions and rule; each provider's role, \
        log group, function, URL output, Lambda alarms and dashboard widgets. Each part \
        lies between `# BEGIN generated: <part>` and `# END generated: <part>` lines; \
        the rest of the file is written by hand and left as it is.\n\n\
        `make template` runs it; `make lint` regenerates a copy and fails on any \
        difference.",
    after_help = "Examples:\n  \
        livehook template\n  \
        cp template.yaml /tmp/t.yaml && livehook template --file /tmp/t.yaml && diff template.yaml /tmp/t.yaml"
)]
pub struct TemplateArgs {
    /// The SAM template to rewrite in place.
    #[arg(long, value_name = "FILE", default_value = "template.yaml")]
    file: PathBuf,
}

/// Rewrites the generated parts of the template.
pub fn run(args: TemplateArgs) -> Result<()> {
    let path = &args.file;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let written = render(&text, &Registry::of(&providers::ALL))
        .with_context(|| format!("in {}", path.display()))?;
    if written != text {
        std::fs::write(path, written).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("template: rewrote {}", path.display());
    }
    Ok(())
}

/// The providers as the template deploys them.
pub struct Registry {
    /// One per provider, in registry order.
    pub functions: Vec<Function>,
    /// Each distinct secret, in the order its first provider comes.
    pub secrets: Vec<SecretParameter>,
}

/// One provider's function.
pub struct Function {
    /// The provider's name: binary, route, metric dimension.
    pub name: &'static str,
    /// The prefix of its logical ids (`Tencent` → `TencentFunction`).
    pub logical: String,
    /// Its API route (`/lal/{hook}`).
    pub route: String,
    /// The route ends in the hook's name: its output is a URL prefix.
    pub hook_in_path: bool,
    /// Index of its secret in [`Registry::secrets`].
    pub secret: usize,
    /// What else the function needs from the stack.
    pub deployment: Deployment,
}

/// A secret and the three template parameters that give it.
pub struct SecretParameter {
    /// The secret as the functions read it.
    pub spec: SecretSpec,
    /// The parameter holding it by value (`LIVEHOOK_TENCENT_KEY` → `TencentKey`).
    pub parameter: String,
}

impl SecretParameter {
    /// The parameter naming a Secrets Manager secret that holds it.
    pub fn secret_id(&self) -> String {
        format!("{}SecretId", self.parameter)
    }

    /// The parameter naming an SSM String parameter that holds it.
    pub fn ssm_parameter(&self) -> String {
        format!("{}SsmParameter", self.parameter)
    }

    /// The condition under which the secret is given, one way or another:
    /// the condition of each function that uses it.
    pub fn condition(&self) -> String {
        format!("Has{}", self.parameter)
    }
}

impl Registry {
    /// The registry `providers` as the template deploys it.
    pub fn of(providers: &[&'static dyn Provider]) -> Registry {
        let specs: Vec<SecretSpec> = providers.iter().map(|p| p.auth_scheme().secret()).collect();
        let mut distinct: Vec<SecretSpec> = Vec::new();
        for spec in &specs {
            if !distinct.contains(spec) {
                distinct.push(*spec);
            }
        }
        // The most used secret first (the shared token), then in registry order.
        distinct.sort_by_key(|d| std::cmp::Reverse(specs.iter().filter(|s| *s == d).count()));
        let functions = providers
            .iter()
            .zip(&specs)
            .map(|(provider, spec)| Function {
                name: provider.name(),
                logical: logical_name(provider.name()),
                route: providers::route(*provider),
                hook_in_path: provider.receiving().hook_in_path,
                secret: distinct.iter().position(|d| d == spec).unwrap_or_default(),
                deployment: provider.deployment(),
            })
            .collect();
        let secrets = distinct
            .into_iter()
            .map(|spec| SecretParameter {
                spec,
                parameter: parameter_name(&spec),
            })
            .collect();
        Registry { functions, secrets }
    }

    /// The secret `function` uses.
    pub fn secret_of(&self, function: &Function) -> &SecretParameter {
        &self.secrets[function.secret]
    }

    /// The condition under which `function` exists.
    pub fn condition_of(&self, function: &Function) -> String {
        self.secret_of(function).condition()
    }

    /// The names of the providers that use secret `index`.
    pub fn users_of(&self, index: usize) -> Vec<&'static str> {
        self.functions
            .iter()
            .filter(|f| f.secret == index)
            .map(|f| f.name)
            .collect()
    }
}

/// The prefix of a provider's logical ids (`Tencent` → `TencentFunction`).
pub fn logical_name(provider: &str) -> String {
    pascal(provider)
}

/// The template parameter holding a secret by value (`LIVEHOOK_TENCENT_KEY`
/// → `TencentKey`).
pub fn parameter_name(secret: &SecretSpec) -> String {
    pascal(secret.variable.trim_start_matches("LIVEHOOK_"))
}

/// The template parameter of a provider's own setting
/// (`LIVEHOOK_ZLMEDIAKIT_RETRY_DELAY` → `ZlmediakitRetryDelay`).
pub fn setting_parameter(setting: &Setting) -> String {
    pascal(setting.variable.trim_start_matches("LIVEHOOK_"))
}

/// `tencent_key` / `TENCENT_KEY` / `zlmediakit` as an identifier part:
/// `TencentKey`, `Zlmediakit`.
fn pascal(words: &str) -> String {
    words
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// Each generated part: its name on the markers and what it holds.
type Part = fn(&Registry) -> Vec<String>;
const PARTS: &[(&str, Part)] = &[
    ("parameter-groups", resources::parameter_groups),
    ("secret-parameters", resources::secret_parameters),
    ("setting-parameters", resources::setting_parameters),
    ("rules", resources::rules),
    ("conditions", resources::conditions),
    ("provider-resources", resources::provider_resources),
    ("function-alarms", alarms::function_alarms),
    ("dashboard-providers", dashboard::provider_widgets),
    ("dashboard-functions", dashboard::function_widgets),
    ("dashboard-alarms", dashboard::alarm_arns),
    ("relay-filter", resources::relay_filter),
    ("outputs", resources::outputs),
];

const BEGIN: &str = "# BEGIN generated: ";
const END: &str = "# END generated: ";

/// `line`'s indentation and part name when it is a `marker` line.
fn marker<'a>(line: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    trimmed
        .strip_prefix(marker)
        .map(|part| (indent, part.trim_end()))
}

/// `text` with every generated part written anew from `registry`.
pub fn render(text: &str, registry: &Registry) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut seen = BTreeSet::new();
    let mut lines = text.split_inclusive('\n').enumerate();
    while let Some((number, line)) = lines.next() {
        out.push_str(line);
        if let Some((_, part)) = marker(line, END) {
            bail!("line {}: `{END}{part}` without its BEGIN", number + 1);
        }
        let Some((indent, part)) = marker(line, BEGIN) else {
            continue;
        };
        let Some((_, generate)) = PARTS.iter().find(|(name, _)| *name == part) else {
            bail!("line {}: no generated part is called `{part}`", number + 1);
        };
        if !seen.insert(part) {
            bail!("line {}: part `{part}` appears twice", number + 1);
        }
        let end = loop {
            match lines.next() {
                None => bail!("`{BEGIN}{part}` (line {}) has no END line", number + 1),
                Some((_, l)) if marker(l, END).is_some_and(|(_, p)| p == part) => break l,
                Some((n, l)) if marker(l, BEGIN).is_some() || marker(l, END).is_some() => {
                    bail!("line {}: a marker inside part `{part}`", n + 1)
                }
                Some(_) => {}
            }
        };
        for generated in generate(registry) {
            if !generated.is_empty() {
                out.push_str(indent);
                out.push_str(&generated);
            }
            out.push('\n');
        }
        out.push_str(end);
    }
    let missing: Vec<&str> = PARTS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !seen.contains(name))
        .collect();
    if !missing.is_empty() {
        bail!(
            "no `{BEGIN}<part>` line for {}: every part must have its place",
            missing.join(", ")
        );
    }
    Ok(out)
}

/// `text` as a YAML single-quoted scalar (no escapes but `''`).
pub(crate) fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `key: >-` and `text` folded into lines of at most `width` characters,
/// indented under the key.
pub(crate) fn folded(key: &str, text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![format!("{key}: >-")];
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(format!("  {line}"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(format!("  {line}"));
    }
    lines
}

/// `lines` indented by `by` spaces (empty lines stay empty).
pub(crate) fn indented(lines: Vec<String>, by: usize) -> impl Iterator<Item = String> {
    let pad = " ".repeat(by);
    lines
        .into_iter()
        .map(move |l| if l.is_empty() { l } else { format!("{pad}{l}") })
}

/// `names` as English: `a`, `a and b`, `a, b and c`.
pub(crate) fn listed(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests;
