#include "tools/cli/stop_signals.h"

#include <pthread.h>

#include <ctime>
#include <initializer_list>

namespace tfe::cli {

StopSignals::StopSignals() {
  sigemptyset(&set_);
  for (const int signo : {SIGINT, SIGTERM}) {
    // A signal the process was started ignoring (a shell's background job ignores SIGINT) stays
    // ignored: blocked, Linux would keep it pending instead of discarding it.
    struct sigaction current {};
    if (sigaction(signo, nullptr, &current) == 0 && current.sa_handler == SIG_IGN) continue;
    sigaddset(&set_, signo);
  }
  pthread_sigmask(SIG_BLOCK, &set_, &previous_);
}

StopSignals::~StopSignals() {
  (void)requested();  // taken here, a pending signal cannot kill the process on unblocking
  pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

bool StopSignals::requested() {
  const timespec now{0, 0};
  const int taken = sigtimedwait(&set_, nullptr, &now);
  if (taken > 0 && signal_ == 0) signal_ = taken;
  return signal_ != 0;
}

}  // namespace tfe::cli
