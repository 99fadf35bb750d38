#pragma once
// What a fuzz target may reach outside the process while it runs (fuzz_sandbox.c).

#ifdef __cplusplus
extern "C" {
#endif

// Between enter and leave: getaddrinfo() only takes numeric hosts (a name fails as
// EAI_NONAME without NSS or DNS being asked), and fopen() for reading only opens
// regular files of at most 1 MiB outside /dev, /proc and /sys (else ENOENT), so
// cert_file = /dev/zero or /proc/kmsg cannot hang a run and no input reaches the
// network. Outside, both behave as usual (libFuzzer writes its crash files).
void ringway_fuzz_sandbox_enter(void);
void ringway_fuzz_sandbox_leave(void);

#ifdef __cplusplus
}
#endif
