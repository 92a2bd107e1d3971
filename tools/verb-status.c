// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include "smemctl.h"
#include "smemkit/rm.h"

static const char usage[] =
	"usage: smemctl status [--socket PATH] [--json]\n"
	"Ask smemd for every host it knows: its state, its process and its queues.\n"
	"PATH defaults to $SMEMKIT_RM_SOCKET, else smemd's default socket.\n";

enum { O_SOCKET = OPT_VERB_FIRST };

static const char *state_name(unsigned s)
{
	switch (s) {
	case 0:
		return "none";
	case 3:
		return "running";
	case 9:
		return "exited";
	case 10:
		return "resetting";
	case 11:
		return "reset";
	default:
		return "other";
	}
}

static const char *exit_name(unsigned vm_state, unsigned t)
{
	if (vm_state != 9 && vm_state != 10 && vm_state != 11)
		return "";
	switch (t) {
	case 0:
		return "it exited";
	case 5:
		return "it died";
	case 7:
		return "stopped by its owner";
	default:
		return "other";
	}
}

int verb_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_OPTIONS,
		{ "socket", required_argument, NULL, O_SOCKET },
		{ 0 },
	};
	struct common c = COMMON_INIT("status", usage);
	struct smem_rm_host hosts[64];
	const char *sock = NULL;
	struct smem_rm *rm;
	size_t n;
	int r;

	OPTIONS_BEGIN(c, longopts)
	case O_SOCKET:
		sock = optarg;
		break;
	OPTIONS_END(c)
	if (strcmp(c.image, DEFAULT_IMAGE))
		return usage_error(c.verb, "takes no IMAGE: it asks smemd"), EXIT_USAGE;
	r = smem_rm_connect(sock, -1, &rm);
	if (r < 0)
		return fail("cannot reach smemd", r,
			    r == -ENOENT || r == -ECONNREFUSED ? "is smemd running? (--socket PATH)"
								: NULL);
	r = smem_rm_hosts(rm, hosts, 64, &n);
	smem_rm_close(rm);
	if (r < 0)
		return fail("smemd's host list", r, NULL);
	if (n > 64)
		n = 64;
	if (c.json) {
		fputs("[", stdout);
		for (size_t i = 0; i < n; i++) {
			const struct smem_rm_host *h = &hosts[i];

			printf("%s\n  {\"host\": %u, \"name\": ", i ? "," : "", h->host);
			json_str(stdout, h->name);
			printf(", \"vmid\": %u, \"state\": \"%s\", \"vm_state\": %u, \"os_state\": %u, "
			       "\"pid\": %u, \"uid\": %u, \"queues\": %u, \"exit_type\": %u}",
			       h->vmid, state_name(h->vm_state), h->vm_state, h->os_state, h->pid,
			       h->uid, h->queues, h->exit_type);
		}
		puts(n ? "\n]" : "]");
		return EXIT_OK;
	}
	printf("%-5s %-8s %-6s %-10s %-8s %-6s %s\n", "host", "name", "vmid", "state", "pid",
	       "queues", "exit");
	for (size_t i = 0; i < n; i++) {
		const struct smem_rm_host *h = &hosts[i];
		char pid[16] = "-";

		if (h->pid)
			snprintf(pid, sizeof(pid), "%u", h->pid);
		printf("%-5u %-8s 0x%-4x %-10s %-8s %-6u %s\n", h->host, h->name, h->vmid,
		       state_name(h->vm_state), pid, h->queues, exit_name(h->vm_state, h->exit_type));
	}
	return EXIT_OK;
}
