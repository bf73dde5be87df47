//! Checks the annotated function and generates its task constructor.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, Pat, ReturnType, Type};

use crate::args::TaskArgs;

/// Expands `#[task(args)] item`; every user mistake becomes a compile error.
pub(crate) fn task(args: TokenStream, item: TokenStream) -> TokenStream {
    let item_fn: ItemFn = match syn::parse2(item.clone()) {
        Ok(item_fn) => item_fn,
        Err(_) => {
            let error = syn::Error::new(Span::call_site(), "`#[task]` goes on an `async fn`");
            return with_error(item, error);
        }
    };
    let args = syn::parse2::<TaskArgs>(args);
    let checked = check_signature(&item_fn);
    let (args, inputs) = match (args, checked) {
        (Ok(args), Ok(inputs)) => (args, inputs),
        (args, checked) => {
            let mut errors = args.err();
            if let Err(error) = checked {
                match &mut errors {
                    Some(errors) => errors.combine(error),
                    None => errors = Some(error),
                }
            }
            let error = errors.expect("one of the two results is an error");
            return with_error(item, error);
        }
    };
    let expanded = generate(&args, &item_fn, &inputs);
    if std::env::var_os("FLOWCORE_MACROS_DEBUG").is_some() {
        eprintln!("{expanded}");
    }
    expanded
}

/// The original item, so later errors and IDEs stay quiet, plus the error.
fn with_error(item: TokenStream, error: syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#item #error)
}

/// An argument of the task function.
struct Input {
    ident: Ident,
    ty: Type,
}

fn check_signature(item_fn: &ItemFn) -> syn::Result<Vec<Input>> {
    let sig = &item_fn.sig;
    let mut errors: Vec<syn::Error> = Vec::new();
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            sig.fn_token.span(),
            "`#[task]` needs an `async fn`; add `async` before `fn`",
        ));
    }
    if let Some(constness) = &sig.constness {
        errors.push(syn::Error::new(
            constness.span(),
            "a task cannot be a `const fn`",
        ));
    }
    if let syn::Safety::Unsafe(unsafety) = &sig.safety {
        errors.push(syn::Error::new(
            unsafety.span(),
            "a task cannot be an `unsafe fn`",
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new(
            abi.span(),
            "a task cannot have an `extern` ABI",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "a task cannot be generic; write a task per concrete type, or implement `flowcore::Task` by hand",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new(
            variadic.span(),
            "a task cannot be variadic",
        ));
    }
    let mut inputs = Vec::new();
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(receiver) => errors.push(syn::Error::new_spanned(
                receiver,
                "a task cannot take `self`; write a free `async fn`",
            )),
            FnArg::Typed(typed) => {
                let ident = match &*typed.pat {
                    Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                        pat.ident.clone()
                    }
                    pat => {
                        errors.push(syn::Error::new_spanned(
                            pat,
                            "task arguments must be plain names, such as `rows: Vec<Row>`; destructure inside the body",
                        ));
                        continue;
                    }
                };
                if contains_impl_trait(&typed.ty) {
                    errors.push(syn::Error::new_spanned(
                        &typed.ty,
                        "task arguments cannot use `impl Trait`; name the type",
                    ));
                    continue;
                }
                let is_static = |reference: &syn::TypeReference| {
                    reference
                        .lifetime
                        .as_ref()
                        .is_some_and(|lifetime| lifetime.ident == "static")
                };
                if let Type::Reference(reference) = &*typed.ty
                    && !is_static(reference)
                {
                    errors.push(syn::Error::new_spanned(
                        reference,
                        "task arguments cannot borrow: a task runs as its own tokio task; take the value, an `Arc`, or a `&'static` reference",
                    ));
                    continue;
                }
                inputs.push(Input {
                    ident,
                    ty: (*typed.ty).clone(),
                });
            }
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output
        && contains_impl_trait(ty)
    {
        errors.push(syn::Error::new_spanned(
            ty,
            "a task cannot return `impl Trait`; name the type",
        ));
    }
    let mut errors = errors.into_iter();
    match errors.next() {
        None => Ok(inputs),
        Some(mut first) => {
            for error in errors {
                first.combine(error);
            }
            Err(first)
        }
    }
}

fn contains_impl_trait(ty: &Type) -> bool {
    ty.to_token_stream()
        .into_iter()
        .any(|token| token.to_string() == "impl")
}

/// How the body's return type becomes the attempt's outcome.
enum Returns {
    /// A plain value: the output is the return type.
    Value,
    /// A `Result`: the output is its `Ok` type.
    Result,
    /// A `Signal`: the output is `()`.
    Signal,
}

fn returns(output: &ReturnType) -> Returns {
    let ReturnType::Type(_, ty) = output else {
        return Returns::Value;
    };
    let Type::Path(path) = &**ty else {
        return Returns::Value;
    };
    match path.path.segments.last() {
        Some(last) if last.ident == "Result" => Returns::Result,
        Some(last) if last.ident == "Signal" && last.arguments.is_empty() => Returns::Signal,
        _ => Returns::Value,
    }
}

fn generate(args: &TaskArgs, item_fn: &ItemFn, inputs: &[Input]) -> TokenStream {
    let krate = match &args.krate {
        Some(path) => quote!(#path),
        None => quote!(::flowcore),
    };
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
        ..
    } = item_fn;
    let ident = &sig.ident;
    let task_name = match &args.name {
        Some(name) => name.value(),
        None => ident.to_string(),
    };
    let body_inputs = &sig.inputs;
    let body_output = &sig.output;

    let unit: Type = syn::parse_quote!(());
    let (output_ty, convert): (TokenStream, TokenStream) = match (returns(&sig.output), &sig.output)
    {
        (Returns::Result, ReturnType::Type(_, ty)) => (
            quote_spanned!(ty.span()=> <#ty as #krate::__private::TaskResult>::Output),
            quote_spanned!(ty.span()=> #krate::__private::TaskResult::into_outcome),
        ),
        (Returns::Signal, _) => (quote!(()), quote!(#krate::__private::from_signal)),
        (_, ReturnType::Type(_, ty)) => {
            (ty.to_token_stream(), quote!(#krate::__private::from_value))
        }
        (_, ReturnType::Default) => (
            unit.to_token_stream(),
            quote!(#krate::__private::from_value),
        ),
    };
    let output_check = match &sig.output {
        ReturnType::Type(_, ty) => {
            quote_spanned!(ty.span()=> #krate::__private::assert_output::<#output_ty>();)
        }
        ReturnType::Default => TokenStream::new(),
    };

    let vars: Vec<Ident> = (0..inputs.len())
        .map(|i| format_ident!("__flowcore_arg_{}", i))
        .collect();
    let params = inputs.iter().map(|Input { ident, ty }| {
        let bound = quote_spanned!(ty.span()=> impl #krate::IntoArg<#ty>);
        quote!(#ident: #bound)
    });

    // Spanned on the argument's type, so a type that is not `Clone + Send + Sync` is
    // reported there.
    let binds = inputs.iter().zip(&vars).map(|(Input { ident, ty }, var)| {
        let name = ident.to_string();
        quote_spanned!(ty.span()=> let #var = __flowcore_args.bind::<#ty, _>(#name, #ident);)
    });
    let gets = inputs.iter().zip(&vars).map(|(Input { ty, .. }, var)| {
        quote_spanned! {ty.span()=>
            let #var = #krate::Values::get::<#ty>(__flowcore_values, &#var)?;
        }
    });

    let mut options = TokenStream::new();
    if let Some(max_retries) = &args.max_retries {
        options.extend(quote!(.max_retries(#max_retries)));
    }
    if let Some(nanos) = args.retry_delay {
        let nanos = nanos as u64;
        options.extend(quote!(.retry_delay(#krate::__private::Duration::from_nanos(#nanos))));
    }
    if let Some(backoff) = &args.retry_backoff {
        let backoff = backoff.to_tokens(&krate);
        options.extend(quote!(.retry_backoff(#backoff)));
    }
    if let Some(jitter) = &args.retry_jitter {
        let jitter = jitter.to_tokens(&krate);
        options.extend(quote!(.retry_jitter(#jitter)));
    }
    if let Some(path) = &args.retry_if {
        // Spanned on the path, so a function of the wrong type is reported there.
        options.extend(quote_spanned!(path.span()=> .retry_if(#path)));
    }
    if let Some(nanos) = args.timeout {
        let nanos = nanos as u64;
        options.extend(quote!(.timeout(#krate::__private::Duration::from_nanos(#nanos))));
    }
    if let Some(trigger) = &args.trigger {
        let trigger = trigger.to_tokens(&krate);
        options.extend(quote!(.trigger(#trigger)));
    }
    if let Some(skip) = &args.skip_on_upstream_skip {
        options.extend(quote!(.skip_on_upstream_skip(#skip)));
    }

    let (call, cache_check) = match args.cache_for {
        None => (
            quote! {
                #krate::__private::task_call::<#output_ty, _, _>(
                    #task_name,
                    __flowcore_args,
                    move |__flowcore_values: &#krate::Values<'_>| {
                        #( #gets )*
                        ::core::result::Result::Ok(async move {
                            #convert(__flowcore_body(#(#vars),*).await)
                        })
                    },
                )
            },
            TokenStream::new(),
        ),
        Some(nanos) => {
            let nanos = nanos as u64;
            let identity = match &args.cache_key {
                Some(key) => key.to_token_stream(),
                None => {
                    let name = ident.to_string();
                    quote!(::core::concat!(::core::module_path!(), "::", #name))
                }
            };
            // Spanned on what is hashed, so a type that is not `Hash` is reported there.
            let hashes = match &args.cache_key_fn {
                Some(path) => quote_spanned! {path.span()=>
                    #krate::__private::CacheKeyPart::hash_part(&#path(#(&#vars),*), __flowcore_key);
                },
                None => inputs
                    .iter()
                    .zip(&vars)
                    .map(|(Input { ty, .. }, var)| {
                        quote_spanned! {ty.span()=>
                            <#ty as #krate::__private::CacheKeyPart>::hash_part(&#var, __flowcore_key);
                        }
                    })
                    .collect(),
            };
            let value_check = match &sig.output {
                ReturnType::Type(_, ty) => quote_spanned! {ty.span()=>
                    #krate::__private::assert_cache_value::<#output_ty>();
                },
                ReturnType::Default => TokenStream::new(),
            };
            let call = quote! {
                #krate::__private::cached_task_call::<#output_ty, _, _>(
                    #task_name,
                    #identity,
                    #krate::__private::Duration::from_nanos(#nanos),
                    __flowcore_args,
                    move |
                        __flowcore_values: &#krate::Values<'_>,
                        __flowcore_key: ::core::option::Option<&mut #krate::__private::CacheHasher>,
                    | {
                        #( #gets )*
                        if let ::core::option::Option::Some(__flowcore_key) = __flowcore_key {
                            #hashes
                        }
                        ::core::result::Result::Ok(async move {
                            #convert(__flowcore_body(#(#vars),*).await)
                        })
                    },
                )
            };
            (call, value_check)
        }
    };

    quote! {
        #(#attrs)*
        #[allow(clippy::too_many_arguments)]
        #vis fn #ident(#(#params),*) -> #krate::TaskCall<#output_ty> {
            async fn __flowcore_body(#body_inputs) #body_output #block
            #output_check
            #cache_check
            let mut __flowcore_args = #krate::Args::new();
            #( #binds )*
            #call
            #options
        }
    }
}
