use std::path::Path;

use super::*;

fn template_yaml() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    std::fs::read_to_string(&path).unwrap()
}

/// The parts of `text` written by hand (outside every generated part).
fn hand_written(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if marker(line, BEGIN).is_some() {
            inside = true;
        } else if marker(line, END).is_some() {
            inside = false;
        } else if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn template_yaml_is_what_the_registry_generates() {
    let text = template_yaml();
    let generated = render(&text, &Registry::of(&providers::ALL)).unwrap();
    assert!(
        generated == text,
        "template.yaml's generated parts are stale: run `make template`"
    );
}

#[test]
fn no_provider_is_written_by_hand() {
    let hand = hand_written(&template_yaml());
    for f in Registry::of(&providers::ALL).functions {
        for id in [
            format!("{}Function", f.logical),
            format!("{}LogGroup", f.logical),
            format!("{}Role", f.logical),
            format!("\"{}\"", f.name),
            format!("/{}", f.name),
        ] {
            assert!(
                !hand.contains(&id),
                "`{id}` is written by hand in template.yaml: generate it from the registry"
            );
        }
    }
}

#[test]
fn rendering_is_idempotent_and_keeps_the_hand_written_text() {
    let text =
        "a: 1\n  # BEGIN generated: outputs\n  stale: yes\n  # END generated: outputs\nb: 2\n";
    let mut all = String::from(text);
    for (name, _) in PARTS.iter().filter(|(n, _)| *n != "outputs") {
        all.push_str(&format!(
            "# BEGIN generated: {name}\n# END generated: {name}\n"
        ));
    }
    let registry = Registry::of(&providers::ALL);
    let once = render(&all, &registry).unwrap();
    assert_eq!(render(&once, &registry).unwrap(), once);
    assert!(once.starts_with("a: 1\n  # BEGIN generated: outputs\n  TencentUrl:\n"));
    assert!(once.contains("  # END generated: outputs\nb: 2\n"));
    assert!(!once.contains("stale"));
}

#[test]
fn markers_out_of_place_are_errors() {
    let registry = Registry::of(&providers::ALL);
    let err = |text: &str| render(text, &registry).unwrap_err().to_string();
    assert!(err("# BEGIN generated: nope\n# END generated: nope\n").contains("no generated part"));
    assert!(err("# BEGIN generated: outputs\n").contains("no END"));
    assert!(err("# END generated: outputs\n").contains("without its BEGIN"));
    assert!(
        err("# BEGIN generated: outputs\n# BEGIN generated: rules\n").contains("marker inside")
    );
    assert!(err("x: 1\n").contains("every part must have its place"));
}

#[test]
fn identifiers_from_names() {
    assert_eq!(pascal("TENCENT_KEY"), "TencentKey");
    assert_eq!(pascal("zlmediakit"), "Zlmediakit");
    assert_eq!(pascal("TOKEN"), "Token");
    let registry = Registry::of(&providers::ALL);
    let parameters: Vec<&str> = registry
        .secrets
        .iter()
        .map(|s| s.parameter.as_str())
        .collect();
    // The shared ones first, then one per signed platform, each once.
    assert!(
        parameters.starts_with(&["Token", "TencentKey"]),
        "{parameters:?}"
    );
    let signed = providers::ALL
        .iter()
        .filter(|p| matches!(p.auth_scheme(), providers::AuthScheme::Signed(_)));
    assert_eq!(parameters.len(), 2 + signed.clone().count());
    for provider in signed {
        // `<Name>Secret`, or `<Name>Key` for the clouds that call it a key.
        let expected = [
            format!("{}Secret", pascal(provider.name())),
            format!("{}Key", pascal(provider.name())),
        ];
        assert!(
            expected.iter().any(|e| parameters.contains(&e.as_str())),
            "{expected:?}"
        );
    }
    let lal = registry.functions.iter().find(|f| f.name == "lal").unwrap();
    assert_eq!(registry.condition_of(lal), "HasToken");
    assert!(lal.hook_in_path);
}

#[test]
fn every_admission_provider_is_told_what_to_answer_when_dynamodb_fails() {
    for provider in providers::ALL {
        assert_eq!(
            provider
                .deployment()
                .settings
                .contains(&providers::ADMISSION_SETTING),
            provider.receiving().admission,
            "{}",
            provider.name()
        );
    }
}

#[test]
fn every_function_reads_the_secret_the_template_gives_it() {
    let base = |name: &str| match name {
        "LIVEHOOK_TABLE" => Some("t".to_owned()),
        "LIVEHOOK_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:1:x".to_owned()),
        _ => None,
    };
    for provider in providers::ALL {
        let scheme = provider.auth_scheme();
        match livehook::config::Config::from_lookup(scheme, base) {
            Err(livehook::config::ConfigError::NoSecret(variable)) => {
                assert_eq!(variable, scheme.secret().variable, "{}", provider.name());
            }
            other => panic!("{}: {other:?}", provider.name()),
        }
    }
}

#[test]
fn each_own_setting_is_a_parameter_with_its_default_given_to_its_function() {
    let registry = Registry::of(&providers::ALL);
    let parameters = resources::setting_parameters(&registry).join("\n");
    let groups = resources::parameter_groups(&registry).join("\n");
    let functions = resources::provider_resources(&registry).join("\n");
    let mut settings = 0;
    for f in &registry.functions {
        for setting in f.deployment.own_settings {
            let p = setting_parameter(setting);
            let declared = format!(
                "{p}:\n  Type: Number\n  Default: {}\n  MinValue: 0\n  MaxValue: {}\n",
                setting.default, setting.max
            );
            assert!(parameters.contains(&declared), "{p}");
            assert!(groups.contains(&p), "{p}");
            assert!(
                functions.contains(&format!("{}: !Ref {p}", setting.variable)),
                "{p}"
            );
            settings += 1;
        }
    }
    // ZLMediaKit's retry, retry_delay, timeoutSec, streamNoneReaderDelayMS, continue_push_ms.
    assert!(settings >= 5, "{settings}");
}
