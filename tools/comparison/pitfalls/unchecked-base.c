/*
 * Constructors whose failure nobody checks, in the order of the original
 * article's main (the code here is ours): event_base_new(), event_new(),
 * event_add(), event_base_dispatch(), none of them checked.  Make
 * event_base_new() fail (in a child process, with every backend this
 * libevent has on Linux disabled through its documented EVENT_NO*
 * variables; running out of memory would do the same) and print what each
 * later call does with the NULL it was given.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "demo.h"

/* libevent's own warnings, shown here instead of on stderr. */
static void show_warning(int severity, const char *msg)
{
	(void)severity;
	printf("    libevent says: %s\n", msg);
	fflush(stdout);
}

static void greet(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static void market_without_checks(void)
{
	struct event_base *base;
	struct event *door_ev;
	int door = socket(AF_INET, SOCK_STREAM, 0);
	int r;

	if (door < 0)
		die("socket");
	if (setenv("EVENT_NOEPOLL", "1", 1) < 0 || setenv("EVENT_NOPOLL", "1", 1) < 0 ||
	    setenv("EVENT_NOSELECT", "1", 1) < 0)
		die("setenv");
	event_set_log_callback(show_warning);

	base = event_base_new();
	printf("  event_base_new() returned %s\n", base == NULL ? "NULL" : "a base");
	fflush(stdout);
	door_ev = event_new(base, door, EV_READ | EV_PERSIST, greet, base);
	printf("  event_new(NULL base, ...) returned %s\n",
	       door_ev == NULL ? "NULL" : "an event");
	fflush(stdout);
	r = event_add(door_ev, NULL);
	printf("  event_add() returned %d\n", r);
	printf("  event_base_dispatch(NULL) ...\n");
	fflush(stdout);
	r = event_base_dispatch(base);
	printf("  event_base_dispatch() returned %d\n", r);
	fflush(stdout);
	_exit(0);
}

int main(void)
{
	int status;
	pid_t pid;

	printf("unchecked-base: event_base_new() fails, and nothing checks:\n");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		market_without_checks();
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid");
	if (WIFSIGNALED(status))
		printf("unchecked-base: the process was killed by signal %d (%s)\n",
		       WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		printf("unchecked-base: the process exited with status %d\n",
		       WEXITSTATUS(status));
	return 0;
}
