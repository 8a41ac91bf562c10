/*
 * Pitfalls 7.1 and 7.2, the 1.x API: bufferevent_new() takes its base from
 * event_init(), and never closes the socket.
 *
 * 1. Before any event_init(), in a child process: bufferevent_new() is
 *    bufferevent_socket_new(NULL, fd, 0), and a NULL base is "the current
 *    base", of which there is none yet.
 * 2. After event_init(): free the bufferevent, let the loop turn once (in
 *    libevent 2.1 a freed bufferevent is finalized, and a
 *    BEV_OPT_CLOSE_ON_FREE socket closed, from the loop, not inside
 *    bufferevent_free()), and see whether its socket is still open; the
 *    same with bufferevent_socket_new(..., BEV_OPT_CLOSE_ON_FREE) beside it.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event.h>

#include "demo.h"

int main(void)
{
	int sv[2], status;
	pid_t pid;
	struct event_base *base;
	struct bufferevent *bev;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		bev = bufferevent_new(sv[0], NULL, NULL, NULL, NULL);
		_exit(bev == NULL ? 2 : 0);
	}
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid");
	if (WIFSIGNALED(status))
		printf("bufferevent-new: before event_init(), bufferevent_new() killed "
		       "the process with signal %d (%s)\n", WTERMSIG(status),
		       strsignal(WTERMSIG(status)));
	else if (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 2)
		printf("bufferevent-new: before event_init(), bufferevent_new() %s\n",
		       WEXITSTATUS(status) == 2 ? "returned NULL" : "returned a bufferevent");
	else
		printf("bufferevent-new: before event_init(), bufferevent_new() made "
		       "the process exit with status %d\n", WEXITSTATUS(status));

	base = event_init();
	bev = bufferevent_new(sv[0], NULL, NULL, NULL, NULL);
	if (bev == NULL)
		die("bufferevent_new");
	bufferevent_free(bev);
	event_loop(EVLOOP_NONBLOCK);
	printf("bufferevent-new: after event_init(), bufferevent_free() and one "
	       "turn of the loop, the socket is %s\n",
	       fcntl(sv[0], F_GETFD) != -1 ? "still open (close it yourself)" :
	       "closed");
	close(sv[0]);
	close(sv[1]);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	bev = bufferevent_socket_new(base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		die("bufferevent_socket_new");
	bufferevent_free(bev);
	printf("bufferevent-new: bufferevent_socket_new(BEV_OPT_CLOSE_ON_FREE): "
	       "right after bufferevent_free() the socket is %s",
	       fcntl(sv[0], F_GETFD) != -1 ? "open" : "closed");
	event_base_loop(base, EVLOOP_NONBLOCK);
	printf(", after one turn of the loop %s\n",
	       fcntl(sv[0], F_GETFD) != -1 ? "open" : "closed");
	close(sv[1]);
	event_base_free(base);
	return 0;
}
