//! Parses the options of `#[task(...)]`: name, retries and their policy, durations, trigger, skip propagation, caching, crate path.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitBool, LitFloat, LitInt, LitStr, Token};

const OPTIONS: &str = "name, max_retries, retry_delay, retry_backoff, retry_jitter, retry_if, timeout, trigger, skip_on_upstream_skip, cache_for, cache_key, cache_key_fn, crate";
const BACKOFFS: &str = "exponential(initial = \"1s\", factor = 2.0, max = \"1m\")";
const JITTERS: &str = "none, full, proportional(0.25)";
const TRIGGERS: &str = "all_successful, all_failed, any_successful, any_failed, all_finished, always_run, manual_only, not_all_skipped, some_successful(at_least = .., at_most = ..), some_failed(at_least = .., at_most = ..), custom(path::to::function)";

/// The options given to `#[task]`.
#[derive(Default)]
pub(crate) struct TaskArgs {
    pub(crate) name: Option<LitStr>,
    pub(crate) max_retries: Option<LitInt>,
    pub(crate) retry_delay: Option<u128>,
    pub(crate) retry_backoff: Option<BackoffSpec>,
    pub(crate) retry_jitter: Option<JitterSpec>,
    pub(crate) retry_if: Option<syn::Path>,
    pub(crate) timeout: Option<u128>,
    pub(crate) trigger: Option<TriggerSpec>,
    pub(crate) skip_on_upstream_skip: Option<LitBool>,
    pub(crate) cache_for: Option<u128>,
    pub(crate) cache_key: Option<LitStr>,
    pub(crate) cache_key_fn: Option<syn::Path>,
    pub(crate) krate: Option<syn::Path>,
}

/// `retry_backoff = exponential(initial = .., factor = .., max = ..)`, checked.
pub(crate) struct BackoffSpec {
    pub(crate) initial: u128,
    pub(crate) factor: f64,
    pub(crate) max: u128,
}

/// A jitter named in the attribute.
pub(crate) enum JitterSpec {
    /// `none` or `full`: the `Jitter` variant's name.
    Plain(&'static str),
    /// `proportional(fraction)`.
    Proportional(f64),
}

impl BackoffSpec {
    /// The expression building the backoff, with `krate` as the path to flowcore.
    pub(crate) fn to_tokens(&self, krate: &TokenStream) -> TokenStream {
        let (initial, factor, max) = (self.initial as u64, self.factor, self.max as u64);
        quote!(#krate::Backoff::exponential(
            #krate::__private::Duration::from_nanos(#initial),
            #factor,
            #krate::__private::Duration::from_nanos(#max),
        ))
    }
}

impl JitterSpec {
    /// The expression building the jitter, with `krate` as the path to flowcore.
    pub(crate) fn to_tokens(&self, krate: &TokenStream) -> TokenStream {
        match self {
            JitterSpec::Plain(variant) => {
                let variant = Ident::new(variant, Span::call_site());
                quote!(#krate::Jitter::#variant)
            }
            JitterSpec::Proportional(fraction) => quote!(#krate::Jitter::Proportional(#fraction)),
        }
    }
}

/// A trigger named in the attribute.
pub(crate) enum TriggerSpec {
    /// A built-in trigger without parameters: the `Trigger` variant's name.
    Plain(&'static str),
    /// `some_successful` or `some_failed` with thresholds.
    Some {
        variant: &'static str,
        at_least: Option<TokenStream>,
        at_most: Option<TokenStream>,
    },
    /// `custom(path)`.
    Custom(syn::Path),
}

impl TriggerSpec {
    /// The expression building the trigger, with `krate` as the path to flowcore.
    pub(crate) fn to_tokens(&self, krate: &TokenStream) -> TokenStream {
        match self {
            TriggerSpec::Plain(variant) => {
                let variant = Ident::new(variant, Span::call_site());
                quote!(#krate::Trigger::#variant)
            }
            TriggerSpec::Some {
                variant,
                at_least,
                at_most,
            } => {
                let variant = Ident::new(variant, Span::call_site());
                let wrap = |bound: &Option<TokenStream>| match bound {
                    Some(bound) => quote!(::core::option::Option::Some(#krate::Threshold::#bound)),
                    None => quote!(::core::option::Option::None),
                };
                let (at_least, at_most) = (wrap(at_least), wrap(at_most));
                quote!(#krate::Trigger::#variant { at_least: #at_least, at_most: #at_most })
            }
            TriggerSpec::Custom(path) => {
                let name = quote!(#path).to_string().replace(' ', "");
                quote!(#krate::Trigger::custom(#name, #path))
            }
        }
    }
}

fn duplicate(key: &Ident) -> syn::Error {
    syn::Error::new(key.span(), format!("duplicate option `{key}`"))
}

fn set<T>(slot: &mut Option<T>, key: &Ident, value: T) -> syn::Result<()> {
    if slot.is_some() {
        return Err(duplicate(key));
    }
    *slot = Some(value);
    Ok(())
}

impl Parse for TaskArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<TaskArgs> {
        let mut args = TaskArgs::default();
        let mut errors: Option<syn::Error> = None;
        while !input.is_empty() {
            if let Err(error) = args.parse_option(input) {
                match &mut errors {
                    Some(errors) => errors.combine(error),
                    None => errors = Some(error),
                }
                // Skip the rest of this option so that the next ones are checked too.
                while !input.is_empty() && !input.peek(Token![,]) {
                    input.parse::<proc_macro2::TokenTree>()?;
                }
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        if args.cache_for.is_none() {
            let needs_cache_for = |span: Span, option: &str| {
                syn::Error::new(
                    span,
                    format!(
                        "`{option}` needs `cache_for`, which turns caching on and says how long results are kept, such as `cache_for = \"10m\"`"
                    ),
                )
            };
            let cache_key = args
                .cache_key
                .as_ref()
                .map(|key| needs_cache_for(key.span(), "cache_key"));
            let cache_key_fn = args
                .cache_key_fn
                .as_ref()
                .map(|path| needs_cache_for(syn::spanned::Spanned::span(path), "cache_key_fn"));
            for error in cache_key.into_iter().chain(cache_key_fn) {
                match &mut errors {
                    Some(errors) => errors.combine(error),
                    None => errors = Some(error),
                }
            }
        }
        match errors {
            Some(errors) => Err(errors),
            None => Ok(args),
        }
    }
}

impl TaskArgs {
    /// Parses one `key = value` option.
    fn parse_option(&mut self, input: ParseStream<'_>) -> syn::Result<()> {
        let key = input.call(Ident::parse_any)?;
        input.parse::<Token![=]>()?;
        match key.to_string().as_str() {
            "name" => {
                let name: LitStr = input.parse()?;
                if name.value().is_empty() {
                    return Err(syn::Error::new(
                        name.span(),
                        "a task name must not be empty",
                    ));
                }
                set(&mut self.name, &key, name)
            }
            "max_retries" => {
                let message = "`max_retries` must be a whole number from 0 to 4294967295";
                let lit: LitInt = input
                    .parse()
                    .map_err(|error| syn::Error::new(error.span(), message))?;
                lit.base10_parse::<u32>()
                    .map_err(|_| syn::Error::new(lit.span(), message))?;
                set(&mut self.max_retries, &key, lit)
            }
            "retry_delay" => {
                if self.retry_backoff.is_some() {
                    return Err(both_delays(&key));
                }
                let nanos = parse_duration(input, "retry_delay", true)?;
                set(&mut self.retry_delay, &key, nanos)
            }
            "retry_backoff" => {
                if self.retry_delay.is_some() {
                    return Err(both_delays(&key));
                }
                let backoff = parse_backoff(input)?;
                set(&mut self.retry_backoff, &key, backoff)
            }
            "retry_jitter" => {
                let jitter = parse_jitter(input)?;
                set(&mut self.retry_jitter, &key, jitter)
            }
            "retry_if" => {
                let path: syn::Path = input.parse().map_err(|error| {
                    syn::Error::new(
                        error.span(),
                        "`retry_if` takes the path of a function `fn(&(dyn std::error::Error + 'static)) -> bool`",
                    )
                })?;
                set(&mut self.retry_if, &key, path)
            }
            "timeout" => {
                let nanos = parse_duration(input, "timeout", false)?;
                set(&mut self.timeout, &key, nanos)
            }
            "trigger" => {
                let trigger = parse_trigger(input)?;
                set(&mut self.trigger, &key, trigger)
            }
            "skip_on_upstream_skip" => {
                let lit: LitBool = input.parse().map_err(|error| {
                    syn::Error::new(
                        error.span(),
                        "`skip_on_upstream_skip` must be `true` or `false`",
                    )
                })?;
                set(&mut self.skip_on_upstream_skip, &key, lit)
            }
            "cache_for" => {
                let nanos = parse_duration(input, "cache_for", false)?;
                set(&mut self.cache_for, &key, nanos)
            }
            "cache_key" => {
                let message = "`cache_key` must be a string naming the cache entries, such as `cache_key = \"exchange-rates\"`";
                let lit: LitStr = input
                    .parse()
                    .map_err(|error| syn::Error::new(error.span(), message))?;
                if lit.value().is_empty() {
                    return Err(syn::Error::new(lit.span(), "a cache key must not be empty"));
                }
                set(&mut self.cache_key, &key, lit)
            }
            "cache_key_fn" => {
                let path: syn::Path = input.parse().map_err(|error| {
                    syn::Error::new(
                        error.span(),
                        "`cache_key_fn` takes the path of a function that takes the task's arguments by reference and returns a value that implements `Hash`",
                    )
                })?;
                set(&mut self.cache_key_fn, &key, path)
            }
            "crate" => {
                let path = input.call(syn::Path::parse_mod_style)?;
                set(&mut self.krate, &key, path)
            }
            _ => Err(syn::Error::new(
                key.span(),
                format!("unknown option `{key}`; valid options are: {OPTIONS}"),
            )),
        }
    }
}

fn both_delays(key: &Ident) -> syn::Error {
    syn::Error::new(
        key.span(),
        "`retry_delay` and `retry_backoff` both set the delay before a retry; keep one (`retry_delay` is the fixed delay)",
    )
}

/// Parses `exponential(initial = "1s", factor = 2.0, max = "1m")`, checking that the
/// delays can only grow and that `max` is at least `initial`.
fn parse_backoff(input: ParseStream<'_>) -> syn::Result<BackoffSpec> {
    let name = input.call(Ident::parse_any).map_err(|error| {
        syn::Error::new(
            error.span(),
            format!("expected a backoff; valid backoffs are: {BACKOFFS}"),
        )
    })?;
    match name.to_string().as_str() {
        "exponential" => {}
        "fixed" => {
            return Err(syn::Error::new(
                name.span(),
                "for a fixed delay, write `retry_delay = \"2s\"` instead of `retry_backoff`",
            ));
        }
        _ => {
            return Err(syn::Error::new(
                name.span(),
                format!("unknown backoff `{name}`; valid backoffs are: {BACKOFFS}"),
            ));
        }
    }
    if !input.peek(syn::token::Paren) {
        return Err(syn::Error::new(
            name.span(),
            format!("`exponential` needs its parameters: {BACKOFFS}"),
        ));
    }
    let content;
    syn::parenthesized!(content in input);
    let (mut initial, mut factor, mut max) = (None, None, None);
    let mut max_span = name.span();
    while !content.is_empty() {
        let key: Ident = content.parse()?;
        content.parse::<Token![=]>()?;
        match key.to_string().as_str() {
            "initial" => {
                let nanos = parse_duration(&content, "initial", false)?;
                set(&mut initial, &key, nanos)?;
            }
            "factor" => {
                let value = parse_factor(&content)?;
                set(&mut factor, &key, value)?;
            }
            "max" => {
                max_span = content.span();
                let nanos = parse_duration(&content, "max", false)?;
                set(&mut max, &key, nanos)?;
            }
            _ => {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unknown parameter `{key}` of `exponential`; valid parameters are: initial, factor, max"
                    ),
                ));
            }
        }
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    let (Some(initial), Some(factor), Some(max)) = (initial, factor, max) else {
        let missing: Vec<&str> = [
            ("`initial`", initial.is_none()),
            ("`factor`", factor.is_none()),
            ("`max`", max.is_none()),
        ]
        .into_iter()
        .filter_map(|(key, missing)| missing.then_some(key))
        .collect();
        return Err(syn::Error::new(
            name.span(),
            format!(
                "`exponential` is missing {}; write it like {BACKOFFS}",
                missing.join(" and ")
            ),
        ));
    };
    if max < initial {
        return Err(syn::Error::new(
            max_span,
            "`max` must not be shorter than `initial`",
        ));
    }
    Ok(BackoffSpec {
        initial,
        factor,
        max,
    })
}

/// A number literal, with or without a point.
fn parse_number(input: ParseStream<'_>) -> Option<syn::Result<(f64, Span)>> {
    if input.peek(LitFloat) {
        return Some(input.parse::<LitFloat>().and_then(|lit| {
            let value: f64 = lit.base10_parse()?;
            Ok((value, lit.span()))
        }));
    }
    if input.peek(LitInt) {
        return Some(input.parse::<LitInt>().and_then(|lit| {
            let value: f64 = lit.base10_parse()?;
            Ok((value, lit.span()))
        }));
    }
    None
}

fn parse_factor(input: ParseStream<'_>) -> syn::Result<f64> {
    let message =
        "`factor` must be a number of at least 1.0, such as `2.0`, so that delays do not shrink";
    let (factor, span) = match parse_number(input) {
        Some(number) => number?,
        None => return Err(input.error(message)),
    };
    if !(factor.is_finite() && factor >= 1.0) {
        return Err(syn::Error::new(span, message));
    }
    Ok(factor)
}

fn parse_jitter(input: ParseStream<'_>) -> syn::Result<JitterSpec> {
    let name = input.call(Ident::parse_any).map_err(|error| {
        syn::Error::new(
            error.span(),
            format!("expected a jitter; valid jitters are: {JITTERS}"),
        )
    })?;
    match name.to_string().as_str() {
        "none" => return Ok(JitterSpec::Plain("None")),
        "full" => return Ok(JitterSpec::Plain("Full")),
        "proportional" => {}
        _ => {
            return Err(syn::Error::new(
                name.span(),
                format!("unknown jitter `{name}`; valid jitters are: {JITTERS}"),
            ));
        }
    }
    let message = "`proportional(..)` takes the fraction of the delay to add or take away, from 0.0 to 1.0, such as `proportional(0.25)`";
    if !input.peek(syn::token::Paren) {
        return Err(syn::Error::new(name.span(), message));
    }
    let content;
    syn::parenthesized!(content in input);
    let (fraction, span) = match parse_number(&content) {
        Some(number) => number?,
        None => return Err(content.error(message)),
    };
    if !content.is_empty() || !(0.0..=1.0).contains(&fraction) {
        return Err(syn::Error::new(span, message));
    }
    Ok(JitterSpec::Proportional(fraction))
}

fn parse_duration(input: ParseStream<'_>, option: &str, zero_ok: bool) -> syn::Result<u128> {
    let lit: LitStr = input.parse().map_err(|error| {
        syn::Error::new(
            error.span(),
            format!("`{option}` must be a duration string such as \"500ms\", \"2s\" or \"1m30s\""),
        )
    })?;
    let nanos = duration_nanos(&lit.value()).map_err(|problem| {
        syn::Error::new(
            lit.span(),
            format!("invalid duration for `{option}`: {problem}; write it like \"500ms\", \"2s\" or \"1m30s\" (units: ns, us, ms, s, m, h, d)"),
        )
    })?;
    if nanos == 0 && !zero_ok {
        return Err(syn::Error::new(
            lit.span(),
            format!("`{option}` must be longer than zero"),
        ));
    }
    Ok(nanos)
}

/// Parses a duration such as `2s`, `500ms` or `1h30m` into nanoseconds.
pub(crate) fn duration_nanos(text: &str) -> Result<u128, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("it is empty".to_string());
    }
    let mut total: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("expected a number at `{rest}`"));
        }
        let number: u128 = rest[..digits]
            .parse()
            .map_err(|_| format!("the number `{}` is too large", &rest[..digits]))?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            "" => return Err(format!("the number `{number}` has no unit")),
            other => return Err(format!("unknown unit `{other}`")),
        };
        total = number
            .checked_mul(scale)
            .and_then(|nanos| total.checked_add(nanos))
            .filter(|&nanos| nanos <= u128::from(u64::MAX))
            .ok_or_else(|| "it is too long".to_string())?;
        rest = rest[unit_len..].trim_start();
    }
    Ok(total)
}

fn parse_trigger(input: ParseStream<'_>) -> syn::Result<TriggerSpec> {
    let name = input.call(Ident::parse_any).map_err(|error| {
        syn::Error::new(
            error.span(),
            format!("expected a trigger; valid triggers are: {TRIGGERS}"),
        )
    })?;
    let plain = match name.to_string().as_str() {
        "all_successful" => Some("AllSuccessful"),
        "all_failed" => Some("AllFailed"),
        "any_successful" => Some("AnySuccessful"),
        "any_failed" => Some("AnyFailed"),
        "all_finished" | "always_run" => Some("AllFinished"),
        "manual_only" => Some("ManualOnly"),
        "not_all_skipped" => Some("NotAllSkipped"),
        _ => None,
    };
    if let Some(variant) = plain {
        return Ok(TriggerSpec::Plain(variant));
    }
    let variant = match name.to_string().as_str() {
        "some_successful" => "SomeSuccessful",
        "some_failed" => "SomeFailed",
        "custom" => {
            let content;
            syn::parenthesized!(content in input);
            let path: syn::Path = content.parse()?;
            if !content.is_empty() {
                return Err(content.error("`custom(...)` takes the path of one function"));
            }
            return Ok(TriggerSpec::Custom(path));
        }
        _ => {
            return Err(syn::Error::new(
                name.span(),
                format!("unknown trigger `{name}`; valid triggers are: {TRIGGERS}"),
            ));
        }
    };
    if !input.peek(syn::token::Paren) {
        return Ok(TriggerSpec::Some {
            variant,
            at_least: None,
            at_most: None,
        });
    }
    let content;
    syn::parenthesized!(content in input);
    let (mut at_least, mut at_most) = (None, None);
    while !content.is_empty() {
        let key: Ident = content.parse()?;
        content.parse::<Token![=]>()?;
        let bound = parse_threshold(&content)?;
        match key.to_string().as_str() {
            "at_least" => set(&mut at_least, &key, bound)?,
            "at_most" => set(&mut at_most, &key, bound)?,
            _ => {
                return Err(syn::Error::new(
                    key.span(),
                    format!("unknown threshold `{key}`; valid thresholds are: at_least, at_most"),
                ));
            }
        }
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    Ok(TriggerSpec::Some {
        variant,
        at_least,
        at_most,
    })
}

fn parse_threshold(input: ParseStream<'_>) -> syn::Result<TokenStream> {
    if input.peek(LitFloat) {
        let lit: LitFloat = input.parse()?;
        let fraction: f64 = lit.base10_parse()?;
        if !(0.0..=1.0).contains(&fraction) {
            return Err(syn::Error::new(
                lit.span(),
                "a fraction threshold must be between 0.0 and 1.0; write a whole number for a count",
            ));
        }
        return Ok(quote!(Fraction(#fraction)));
    }
    if input.peek(LitInt) {
        let lit: LitInt = input.parse()?;
        let count: u32 = lit
            .base10_parse()
            .map_err(|_| syn::Error::new(lit.span(), "a count threshold must be a whole number"))?;
        return Ok(quote!(Count(#count)));
    }
    Err(input.error("a threshold is a whole number (a count) or a number with a point (a fraction), such as `2` or `0.5`"))
}

#[cfg(test)]
mod tests {
    use super::duration_nanos;

    #[test]
    fn durations_parse_with_units_and_sums() {
        assert_eq!(duration_nanos("2s"), Ok(2_000_000_000));
        assert_eq!(duration_nanos("500ms"), Ok(500_000_000));
        assert_eq!(duration_nanos("1m30s"), Ok(90_000_000_000));
        assert_eq!(duration_nanos("1h 5m"), Ok(3_900_000_000_000));
        assert_eq!(duration_nanos("0s"), Ok(0));
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        assert_eq!(
            duration_nanos("2"),
            Err("the number `2` has no unit".to_string())
        );
        assert_eq!(
            duration_nanos("2 weeks"),
            Err("unknown unit `weeks`".to_string())
        );
        assert_eq!(
            duration_nanos("fast"),
            Err("expected a number at `fast`".to_string())
        );
        assert_eq!(duration_nanos(""), Err("it is empty".to_string()));
    }
}
