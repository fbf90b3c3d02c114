//! The cost floor of a proxy-wasm filter, for `make bench`.
//!
//! Built plain, it reads the request path once (every real filter reads at
//! least that) and lets everything through. Built with
//! `--features buffer`, it also does what any body-checking filter must:
//! holds request and response headers, buffers both bodies to the end and
//! copies them into the VM, then continues: the host-side floor of
//! validating bodies, whatever the validation costs.

#[cfg(target_arch = "wasm32")]
mod noop {
    use proxy_wasm::hostcalls;
    use proxy_wasm::traits::{Context, HttpContext, RootContext};
    use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType};

    const BUFFER: bool = cfg!(feature = "buffer");

    proxy_wasm::main! {{
        proxy_wasm::set_log_level(LogLevel::Warn);
        proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
    }}

    struct Root;
    impl Context for Root {}
    impl RootContext for Root {
        fn create_http_context(&self, _id: u32) -> Option<Box<dyn HttpContext>> {
            Some(Box::new(Noop))
        }
        fn get_type(&self) -> Option<ContextType> {
            Some(ContextType::HttpContext)
        }
    }

    struct Noop;
    impl Context for Noop {}
    impl HttpContext for Noop {
        fn on_http_request_headers(&mut self, _n: usize, eos: bool) -> Action {
            let _ = hostcalls::get_map_value(MapType::HttpRequestHeaders, ":path");
            if BUFFER && !eos {
                Action::Pause
            } else {
                Action::Continue
            }
        }
        fn on_http_request_body(&mut self, size: usize, eos: bool) -> Action {
            if !BUFFER {
                return Action::Continue;
            }
            if !eos {
                return Action::Pause;
            }
            let _ = hostcalls::get_buffer(BufferType::HttpRequestBody, 0, size);
            Action::Continue
        }
        fn on_http_response_headers(&mut self, _n: usize, eos: bool) -> Action {
            if BUFFER && !eos {
                let _ = hostcalls::get_map_value(MapType::HttpResponseHeaders, "content-type");
                Action::Pause
            } else {
                Action::Continue
            }
        }
        fn on_http_response_body(&mut self, size: usize, eos: bool) -> Action {
            if !BUFFER {
                return Action::Continue;
            }
            if !eos {
                return Action::Pause;
            }
            let _ = hostcalls::get_buffer(BufferType::HttpResponseBody, 0, size);
            Action::Continue
        }
    }
}
