// SPDX-License-Identifier: MIT
// tests/interop/unload_test.cc — a dlopen()ed module adds a registry action and is dlclose()d.
//
// The behaviour chosen (see <sigrelay/describe.hpp>, "Unloaded code"): a module removes its actions
// before it is unloaded (remove_actions_in_module() from its destructor does it in one call); one that
// forgets is diagnosed by describe() (unmapped_actions, function.mapped == false). Both are tested
// here with a real module (unload_module.cc), real dlclose() (checked with RTLD_NOLOAD) and real
// signals, each case in a forked child (SIGRELAY_IN_CHILD).
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <time.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>

#include "sigrelay/describe.hpp"
#include "sigrelay/registry.hpp"
#include "sigrelay/relays.hpp"
#include "support/child.hpp"
#include "support/signal_helpers.hpp"

namespace {

using add_fn = sigrelay::action_id (*)(int, std::atomic<int>*, bool, std::size_t*);

// Generous for a loaded machine under TSan; sleeps in intercepted calls (see wait_until_true).
template <typename F>
bool eventually(F done) {
  return sigrelay::test::wait_until_true(done, std::chrono::seconds(20));
}

bool loaded(const char* path) {
  void* h = ::dlopen(path, RTLD_NOW | RTLD_NOLOAD);
  if (h == nullptr) return false;
  ::dlclose(h);
  return true;
}

// Loads the module, adds its action on SIGUSR1 next to one of the program's own, and checks that a
// real delivery reaches both and that describe() places the module's action in the module.
struct loaded_module {
  void* handle = nullptr;
  sigrelay::action_id module_action;
  void load(std::atomic<int>& counter, bool remove_on_unload, std::size_t* removed) {
    handle = ::dlopen(SIGRELAY_UNLOAD_MODULE, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle, nullptr) << ::dlerror();
    const auto add = reinterpret_cast<add_fn>(::dlsym(handle, "unload_module_add"));
    ASSERT_NE(add, nullptr) << ::dlerror();
    module_action = add(SIGUSR1, &counter, remove_on_unload, removed);
    ASSERT_TRUE(module_action);
  }
};

TEST(Unload, ModuleRemovesItsActionsFromItsDestructor) {
  SIGRELAY_IN_CHILD([] {
    std::atomic<std::uint64_t> ours{0};
    const sigrelay::action_id own = sigrelay::add_action(SIGUSR1, sigrelay::relay::add_count(ours));
    std::atomic<int> in_module{0};
    std::size_t removed = 99;
    loaded_module m;
    m.load(in_module, true, &removed);
    sigrelay::signal_description d = sigrelay::describe(SIGUSR1);
    ASSERT_EQ(d.actions.size(), 2U);
    EXPECT_EQ(d.actions[1].what, sigrelay::action_description::kind::other);
    EXPECT_NE(d.actions[1].function.module.find("unload_module"), std::string::npos)
        << to_string(d.actions[1].function);
    ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
    EXPECT_TRUE(eventually([&] { return ours.load() == 1 && in_module.load() == 1; }));

    ASSERT_EQ(::dlclose(m.handle), 0);
    EXPECT_FALSE(loaded(SIGRELAY_UNLOAD_MODULE));  // really unmapped
    EXPECT_EQ(removed, 1U);                        // the destructor removed exactly its own action
    d = sigrelay::describe(SIGUSR1);
    ASSERT_EQ(d.actions.size(), 1U);
    EXPECT_EQ(d.actions[0].id, own);
    EXPECT_EQ(d.unmapped_actions, 0U);
    EXPECT_FALSE(sigrelay::remove_action(m.module_action));  // already gone
    // A delivery after the unload runs the program's action only, and does not touch the module.
    ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
    EXPECT_TRUE(eventually([&] { return ours.load() == 2; }));
    EXPECT_EQ(in_module.load(), 1);
    EXPECT_TRUE(sigrelay::remove_action(own));
  });
}

TEST(Unload, ForgottenActionIsDiagnosedAsUnmappedAndCanStillBeRemoved) {
  SIGRELAY_IN_CHILD([] {
    std::atomic<int> in_module{0};
    loaded_module m;
    m.load(in_module, false, nullptr);
    EXPECT_EQ(sigrelay::describe(SIGUSR1).unmapped_actions, 0U);
    ASSERT_EQ(::dlclose(m.handle), 0);
    ASSERT_FALSE(loaded(SIGRELAY_UNLOAD_MODULE));
    // The action is still registered, its code gone: describe() says so. (A delivery now would jump
    // into unmapped memory; this test does not send one.)
    const sigrelay::signal_description d = sigrelay::describe(SIGUSR1);
    ASSERT_EQ(d.actions.size(), 1U);
    EXPECT_FALSE(d.actions[0].function.mapped);
    EXPECT_EQ(d.unmapped_actions, 1U);
    const std::string text = to_string(d);
    EXPECT_NE(text.find("1 UNMAPPED"), std::string::npos) << text;
    EXPECT_NE(text.find("(unmapped)"), std::string::npos) << text;
    // remove_action() never calls the action: removing the stale one is safe, and restores SIG_DFL.
    EXPECT_TRUE(sigrelay::remove_action(m.module_action));
    EXPECT_EQ(sigrelay::describe(SIGUSR1).current.what, sigrelay::disposition::kind::default_action);
  });
}

TEST(Unload, RemoveActionsInModuleOfTheProgramLeavesOtherModulesAlone) {
  SIGRELAY_IN_CHILD([] {
    std::atomic<std::uint64_t> ours{0};
    (void)sigrelay::add_action(SIGUSR2, sigrelay::relay::add_count(ours));  // relay: the library's code
    std::atomic<int> in_module{0};
    loaded_module m;
    m.load(in_module, false, nullptr);
    // The program's own module (this test, with sigrelay linked in) holds the relay's function.
    EXPECT_EQ(sigrelay::remove_actions_in_module(reinterpret_cast<const void*>(&loaded)), 1U);
    EXPECT_EQ(sigrelay::describe(SIGUSR2).actions.size(), 0U);
    EXPECT_EQ(sigrelay::describe(SIGUSR1).actions.size(), 1U);  // the module's, untouched
    EXPECT_EQ(sigrelay::remove_actions_in_module(nullptr), 0U);
    EXPECT_TRUE(sigrelay::remove_action(m.module_action));
    ASSERT_EQ(::dlclose(m.handle), 0);
  });
}

}  // namespace
