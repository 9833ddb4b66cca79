//! The template's secret parameters, their conditions and rule, and each
//! provider's role, log group, function and URL output.

use livehook::auth::MIN_TOKEN_LEN;

use super::{Function, Registry, SecretParameter, folded, indented, listed, setting_parameter};

/// Descriptions are folded to this many characters.
const WIDTH: usize = 92;

/// The Metadata's parameter group of the secrets.
pub fn parameter_groups(registry: &Registry) -> Vec<String> {
    let mut lines = vec![
        "- Label: {default: \"Secrets: each by value, from Secrets Manager or from SSM; a provider's function exists only when its secret is given\"}".to_owned(),
    ];
    let groups: Vec<String> = registry
        .secrets
        .iter()
        .map(|s| format!("{}, {}, {}", s.parameter, s.secret_id(), s.ssm_parameter()))
        .collect();
    for (i, group) in groups.iter().enumerate() {
        let open = if i == 0 { "  Parameters: [" } else { "    " };
        let close = if i + 1 == groups.len() { "]" } else { "," };
        lines.push(format!("{open}{group}{close}"));
    }
    for f in registry.functions.iter() {
        let own = f.deployment.own_settings;
        if own.is_empty() {
            continue;
        }
        let parameters: Vec<String> = own.iter().map(setting_parameter).collect();
        lines.push(format!(
            "- Label: {{default: \"{}: as its server is configured (each default is the server's own)\"}}",
            f.name
        ));
        lines.push(format!("  Parameters: [{}]", parameters.join(", ")));
    }
    lines
}

/// Each provider's own settings as a Number parameter with its default
/// and range (0 to its maximum).
pub fn setting_parameters(registry: &Registry) -> Vec<String> {
    let mut lines = Vec::new();
    let mut seen = Vec::new();
    for f in &registry.functions {
        for setting in f.deployment.own_settings {
            if seen.contains(&setting.variable) {
                continue;
            }
            seen.push(setting.variable);
            lines.extend([
                format!("{}:", setting_parameter(setting)),
                "  Type: Number".to_owned(),
                format!("  Default: {}", setting.default),
                "  MinValue: 0".to_owned(),
                format!("  MaxValue: {}", setting.max),
            ]);
            let about = format!(
                "{} A {} from 0 to {}; for the {} function ({}).",
                setting.about,
                setting.unit.name(),
                setting.max,
                f.name,
                setting.variable
            );
            lines.extend(indented(folded("Description", &about, WIDTH), 2));
        }
    }
    lines
}

/// Each secret's three parameters: by value, by Secrets Manager secret, by
/// SSM parameter; all default empty.
pub fn secret_parameters(registry: &Registry) -> Vec<String> {
    let mut lines = Vec::new();
    for (index, secret) in registry.secrets.iter().enumerate() {
        let users = registry.users_of(index);
        let p = &secret.parameter;
        lines.extend([
            format!("{p}:"),
            "  Type: String".to_owned(),
            "  NoEcho: true".to_owned(),
            "  Default: \"\"".to_owned(),
        ]);
        let function_s = if users.len() == 1 {
            "function"
        } else {
            "functions"
        };
        let mut about = format!(
            "{}. For the {} {function_s}.",
            secret.spec.about,
            listed(&users)
        );
        if secret.spec.in_url {
            lines.extend([
                "  # URL-safe (RFC 3986 unreserved) so that a sender pasting the URL sends it unchanged (a".to_owned(),
                "  # \"+\" would arrive as a space); the functions refuse anything else at start-up too,".to_owned(),
                "  # which covers values given by reference.".to_owned(),
                format!(
                    "  AllowedPattern: \"^$|^[A-Za-z0-9._~-]{{{MIN_TOKEN_LEN},}}(,[A-Za-z0-9._~-]{{{MIN_TOKEN_LEN},}})*$\""
                ),
            ]);
            lines.extend(indented(
                folded(
                    "ConstraintDescription",
                    &format!(
                        "comma-separated values, each at least {MIN_TOKEN_LEN} characters of \
                         A-Z a-z 0-9 . _ ~ - (make one with `livehook token`)"
                    ),
                    WIDTH,
                ),
                2,
            ));
            about.push_str(&format!(
                " Each at least {MIN_TOKEN_LEN} characters of A-Z a-z 0-9 . _ ~ - \
                 (`livehook token` prints one)."
            ));
        }
        let functions = if users.len() == 1 {
            "its function is"
        } else {
            "their functions are"
        };
        about.push_str(&format!(
            " Leave empty when {} or {} is given; with all three empty, {functions} not created.",
            secret.secret_id(),
            secret.ssm_parameter()
        ));
        lines.extend(indented(folded("Description", &about, WIDTH), 2));
        lines.extend([
            format!("{}:", secret.secret_id()),
            "  Type: String".to_owned(),
            "  Default: \"\"".to_owned(),
        ]);
        lines.extend(indented(
            folded(
                "Description",
                &format!(
                    "Optional. Secrets Manager secret (name or ARN; a plain-text secret, or \
                     name:SecretString:json-key for a JSON one) holding {p}. Takes precedence \
                     over {} and {p}.",
                    secret.ssm_parameter()
                ),
                WIDTH,
            ),
            2,
        ));
        lines.extend([
            format!("{}:", secret.ssm_parameter()),
            "  Type: String".to_owned(),
            "  Default: \"\"".to_owned(),
        ]);
        lines.extend(indented(
            folded(
                "Description",
                &format!(
                    "Optional. SSM Parameter Store String parameter name (optionally \
                     name:version) holding {p}; SecureString is not possible here (see README). \
                     Takes precedence over {p}."
                ),
                WIDTH,
            ),
            2,
        ));
    }
    lines
}

/// `!Not [!Equals [!Ref parameter, ""]]`.
fn given(parameter: &str) -> String {
    format!("!Not [!Equals [!Ref {parameter}, \"\"]]")
}

/// The rule that some provider can be deployed: a stack without any secret
/// would have no function at all.
pub fn rules(registry: &Registry) -> Vec<String> {
    let any_of = |s: &SecretParameter| {
        format!(
            "!Or [{}, {}, {}]",
            given(&s.parameter),
            given(&s.secret_id()),
            given(&s.ssm_parameter())
        )
    };
    let terms: Vec<String> = registry.secrets.iter().map(any_of).collect();
    let mut lines = vec!["SomeSecretIsGiven:".to_owned(), "  Assertions:".to_owned()];
    match terms.as_slice() {
        [one] => lines.push(format!("    - Assert: {one}")),
        _ => {
            // Fn::Or takes at most 10 conditions: nest by tens.
            lines.push("    - Assert: !Or".to_owned());
            for chunk in terms.chunks(10) {
                if terms.len() <= 10 {
                    lines.extend(chunk.iter().map(|t| format!("        - {t}")));
                } else if let [one] = chunk {
                    lines.push(format!("        - {one}"));
                } else {
                    lines.push("        - !Or".to_owned());
                    lines.extend(chunk.iter().map(|t| format!("          - {t}")));
                }
            }
        }
    }
    let parameters: Vec<&str> = registry
        .secrets
        .iter()
        .map(|s| s.parameter.as_str())
        .collect();
    lines.extend(indented(
        folded(
            "AssertDescription",
            &format!(
                "Give the secret of at least one provider ({}), by value, SecretId or \
                 SsmParameter: a provider's function is created only when its secret is given.",
                parameters.join(", ")
            ),
            WIDTH,
        ),
        6,
    ));
    lines
}

/// For each secret: whether it is given by Secrets Manager, by SSM, at all.
pub fn conditions(registry: &Registry) -> Vec<String> {
    let mut lines = Vec::new();
    for s in &registry.secrets {
        lines.push(format!("Has{}: {}", s.secret_id(), given(&s.secret_id())));
        lines.push(format!(
            "Has{}: {}",
            s.ssm_parameter(),
            given(&s.ssm_parameter())
        ));
        lines.push(format!(
            "{}: !Or [!Condition Has{}, !Condition Has{}, {}]",
            s.condition(),
            s.secret_id(),
            s.ssm_parameter(),
            given(&s.parameter)
        ));
    }
    lines
}

/// Each provider's role, log group and function, created with its secret.
pub fn provider_resources(registry: &Registry) -> Vec<String> {
    let mut lines = Vec::new();
    for (i, f) in registry.functions.iter().enumerate() {
        if i > 0 {
            lines.push(String::new());
        }
        lines.extend(provider(registry, f));
    }
    lines
}

fn provider(registry: &Registry, f: &Function) -> Vec<String> {
    let secret = registry.secret_of(f);
    let condition = secret.condition();
    let (name, l) = (f.name, &f.logical);
    let mut lines = vec![
        format!(
            "# {name}: {}, created when {} is given.",
            f.route, secret.parameter
        ),
        format!("{l}Role:"),
        "  Type: AWS::IAM::Role".to_owned(),
        format!("  Condition: {condition}"),
        "  Properties:".to_owned(),
        format!(
            "    Description: \"livehook {name} function: PutItem on the table, its own log group\""
        ),
    ];
    lines.extend([
        "    AssumeRolePolicyDocument: {Version: \"2012-10-17\", Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]}".to_owned(),
        "    ManagedPolicyArns: [!Ref ProviderFunctionPolicy]".to_owned(),
        "    Policies:".to_owned(),
        "      - PolicyName: own-log-group".to_owned(),
        "        PolicyDocument:".to_owned(),
        "          Version: \"2012-10-17\"".to_owned(),
        "          Statement:".to_owned(),
        format!("            - {{Sid: WriteOwnLogs, Effect: Allow, Action: [logs:CreateLogStream, logs:PutLogEvents], Resource: !GetAtt {l}LogGroup.Arn}}"),
    ]);
    if f.deployment
        .settings
        .iter()
        .any(|(variable, _)| *variable == livehook::stream_keys::SETTING)
    {
        // Stream keys: an admission checks its key in the transaction that writes its
        // record (the relay records the key's last use); key items only.
        lines.push(format!(
            "            - {{Sid: CheckStreamKeys, Effect: Allow, Action: [dynamodb:ConditionCheckItem], Resource: !GetAtt EventsTable.Arn, Condition: {{\"ForAllValues:StringLike\": {{\"dynamodb:LeadingKeys\": [\"{}*\"]}}}}}}",
            livehook::stream_keys::ITEM_PREFIX
        ));
    }
    lines.extend([
        format!("{l}LogGroup:"),
        "  Type: AWS::Logs::LogGroup".to_owned(),
        format!("  Condition: {condition}"),
        "  Properties:".to_owned(),
        format!("    LogGroupName: !Sub /aws/lambda/${{AWS::StackName}}-{name}"),
        "    RetentionInDays: !Ref LogRetentionDays".to_owned(),
        format!("{l}Function:"),
        "  Type: AWS::Serverless::Function".to_owned(),
        format!("  Condition: {condition}"),
        "  Metadata:".to_owned(),
        "    BuildMethod: rust-cargolambda".to_owned(),
        "    BuildProperties:".to_owned(),
        format!("      Binary: {name}"),
        "  Properties:".to_owned(),
        format!("    FunctionName: !Sub ${{AWS::StackName}}-{name}"),
        "    CodeUri: .".to_owned(),
        format!("    Role: !GetAtt {l}Role.Arn"),
        format!("    LoggingConfig: {{LogGroup: !Ref {l}LogGroup, LogFormat: Text}}"),
        "    Environment:".to_owned(),
        "      Variables:".to_owned(),
        "        # Merged with the Globals variables.".to_owned(),
        "        LIVEHOOK_TABLE: !Ref EventsTable".to_owned(),
        "        LIVEHOOK_RETENTION_SECONDS: !Ref RetentionSeconds".to_owned(),
        format!("        {}: !If", secret.spec.variable),
        format!("          - Has{}", secret.secret_id()),
        format!(
            "          - !Sub \"{{{{resolve:secretsmanager:${{{}}}}}}}\"",
            secret.secret_id()
        ),
        format!(
            "          - !If [Has{ssm}, !Sub \"{{{{resolve:ssm:${{{ssm}}}}}}}\", !Ref {}]",
            secret.parameter,
            ssm = secret.ssm_parameter()
        ),
    ]);
    lines.extend(
        f.deployment
            .settings
            .iter()
            .map(|(variable, parameter)| format!("        {variable}: !Ref {parameter}")),
    );
    lines.extend(f.deployment.own_settings.iter().map(|setting| {
        format!(
            "        {}: !Ref {}",
            setting.variable,
            setting_parameter(setting)
        )
    }));
    let path = if f.route.contains('{') {
        format!("\"{}\"", f.route)
    } else {
        f.route.clone()
    };
    lines.extend([
        "    Events:".to_owned(),
        "      Webhook:".to_owned(),
        "        Type: HttpApi".to_owned(),
        format!("        Properties: {{ApiId: !Ref HttpApi, Method: ANY, Path: {path}}}"),
    ]);
    lines
}

/// The filter of the relay's event source mapping: the relay's own
/// (`livehook::relay::mapping_filter`), which `livehook pump` applies too.
pub fn relay_filter(_: &Registry) -> Vec<String> {
    vec![
        "FilterCriteria:".to_owned(),
        "  Filters:".to_owned(),
        format!(
            "    - Pattern: {}",
            super::quoted(&livehook::relay::mapping_filter())
        ),
    ]
}

/// Each provider's URL, as its console or configuration takes it.
pub fn outputs(registry: &Registry) -> Vec<String> {
    let mut lines = Vec::new();
    for f in &registry.functions {
        let secret = registry.secret_of(f);
        let token = format!("?token=<one of {}>", secret.parameter);
        let (key, path, description) = match (f.hook_in_path, secret.spec.in_url) {
            (true, in_url) => (
                format!("{}UrlPrefix", f.logical),
                format!(
                    "{}/",
                    f.route.trim_end_matches("{hook}").trim_end_matches('/')
                ),
                format!(
                    "{}; each hook's URL is this prefix + the hook's name{}",
                    f.deployment.console,
                    if in_url {
                        format!(" + {token}")
                    } else {
                        String::new()
                    }
                ),
            ),
            (false, true) => (
                format!("{}Url", f.logical),
                f.route.clone(),
                format!("{}; append {token}", f.deployment.console),
            ),
            (false, false) => (
                format!("{}Url", f.logical),
                f.route.clone(),
                format!(
                    "{} (and set its secret to {})",
                    f.deployment.console, secret.parameter
                ),
            ),
        };
        lines.extend([
            format!("{key}:"),
            format!("  Condition: {}", secret.condition()),
            format!("  Description: {}", super::quoted(&description)),
            format!(
                "  Value: !Sub https://${{HttpApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}{path}"
            ),
        ]);
    }
    lines
}
