using Coordination.Grains;

namespace Coordination.Tests.Grains;

public class ConfigTests
{
    private readonly GrainHarness _h = new();

    private static byte[] V(int n) => GrainHarness.Json($"{{\"v\":{n}}}");

    [Fact]
    public void Each_put_makes_a_new_version_stamped_with_the_revision()
    {
        Assert.Equal(1, _h.Expect<ConfigPut>(new PutConfig("app", V(1))).Version);
        var put = _h.Expect<ConfigPut>(new PutConfig("app", V(2)));
        Assert.Equal(2, put.Version);
        Assert.Equal(_h.Index, put.Revision);
        var current = _h.Machine.GetConfig("app")!;
        Assert.Equal(V(2), current.Value);
        Assert.Equal(put.Revision, current.Revision);
    }

    [Fact]
    public void Compare_and_set_succeeds_only_on_the_expected_version()
    {
        _h.Expect<ConfigPut>(new PutConfig("app", V(1), ExpectedVersion: 0));
        _h.Reject(new PutConfig("app", V(2), ExpectedVersion: 0), ErrorCode.VersionMismatch);
        _h.Reject(new PutConfig("app", V(2), ExpectedVersion: 2), ErrorCode.VersionMismatch);
        Assert.Equal(2, _h.Expect<ConfigPut>(new PutConfig("app", V(2), ExpectedVersion: 1)).Version);
    }

    [Fact]
    public void Put_rejects_invalid_json_oversized_values_bad_names_and_bad_expectations()
    {
        _h.Reject(new PutConfig("app", GrainHarness.Json("{\"a\":")), ErrorCode.InvalidArgument);
        _h.Reject(new PutConfig("app", GrainHarness.Json("1 2")), ErrorCode.InvalidArgument);
        _h.Reject(new PutConfig("app", []), ErrorCode.InvalidArgument);
        _h.Reject(new PutConfig("app", V(1), ExpectedVersion: -2), ErrorCode.InvalidArgument);
        var big = GrainHarness.Json("\"" + new string('x', Limits.ConfigValueBytesMax) + "\"");
        _h.Reject(new PutConfig("app", big), ErrorCode.LimitExceeded);
        _h.Reject(new PutConfig("app/x", V(1)), ErrorCode.InvalidName);
        var deep = GrainHarness.Json(new string('[', Limits.JsonDepthMax + 1) + new string(']', Limits.JsonDepthMax + 1));
        _h.Reject(new PutConfig("app", deep), ErrorCode.InvalidArgument);
    }

    [Fact]
    public void History_keeps_the_last_versions_up_to_the_limit()
    {
        for (var i = 1; i <= Limits.HistoryVersionsMax + 3; i++)
        {
            _h.Expect<ConfigPut>(new PutConfig("app", V(i)));
        }

        var history = _h.Machine.GetConfigHistory("app");
        Assert.Equal(Limits.HistoryVersionsMax, history.Count);
        Assert.Equal(Enumerable.Range(4, Limits.HistoryVersionsMax).Select(i => (long)i), history.Select(v => v.Version));
    }

    [Fact]
    public void Rollback_writes_an_old_value_as_a_new_version()
    {
        _h.Expect<ConfigPut>(new PutConfig("app", V(1)));
        _h.Expect<ConfigPut>(new PutConfig("app", V(2)));
        var put = _h.Expect<ConfigPut>(new RollbackConfig("app", 1));
        Assert.Equal(3, put.Version);
        Assert.Equal(V(1), _h.Machine.GetConfig("app")!.Value);
    }

    [Fact]
    public void Rollback_rejects_missing_documents_forgotten_versions_and_version_mismatch()
    {
        _h.Reject(new RollbackConfig("app", 1), ErrorCode.NotFound);
        _h.Expect<ConfigPut>(new PutConfig("app", V(1)));
        _h.Reject(new RollbackConfig("app", 7), ErrorCode.NotFound);
        _h.Reject(new RollbackConfig("app", 1, ExpectedVersion: 5), ErrorCode.VersionMismatch);
    }

    [Fact]
    public void Delete_removes_the_document_and_its_history()
    {
        _h.Reject(new DeleteConfig("app"), ErrorCode.NotFound);
        _h.Expect<ConfigPut>(new PutConfig("app", V(1)));
        _h.Reject(new DeleteConfig("app", ExpectedVersion: 3), ErrorCode.VersionMismatch);
        Assert.Equal(1, _h.Expect<ConfigDeleted>(new DeleteConfig("app", ExpectedVersion: 1)).Version);
        Assert.Null(_h.Machine.GetConfig("app"));
        Assert.Empty(_h.Machine.GetConfigHistory("app"));
        Assert.Equal(0, _h.Machine.Counts.Configs);
    }

    [Fact]
    public void A_fenced_put_succeeds_only_with_the_current_exclusive_holders_token()
    {
        var a = _h.Session(5_000);
        var b = _h.Session(60_000);
        var stale = _h.Lock("leader-lock", a);
        _h.Expect<ConfigPut>(new FencedPutConfig("app", V(1), "leader-lock", stale));
        _h.Wait("leader-lock", b, waitMs: 10_000);
        _h.Tick(5_000);
        var fresh = Assert.Single(_h.Machine.GetLock("leader-lock").Holders).Token;
        // The old holder's write arrives late: the fence stops it.
        _h.Reject(new FencedPutConfig("app", V(2), "leader-lock", stale), ErrorCode.WrongToken);
        Assert.Equal(2, _h.Expect<ConfigPut>(new FencedPutConfig("app", V(2), "leader-lock", fresh)).Version);
    }

    [Fact]
    public void A_fenced_put_is_rejected_for_an_unheld_or_shared_lock_or_a_bad_lock_name()
    {
        _h.Reject(new FencedPutConfig("app", V(1), "free-lock", 1), ErrorCode.LockNotHeld);
        _h.Reject(new FencedPutConfig("app", V(1), "bad lock", 1), ErrorCode.InvalidName);
        var token = _h.Lock("rw", _h.Session(), LockMode.Shared);
        _h.Reject(new FencedPutConfig("app", V(1), "rw", token), ErrorCode.WrongToken);
        var x = _h.Lock("x", _h.Session());
        _h.Reject(new FencedPutConfig("app", GrainHarness.Json("nope"), "x", x), ErrorCode.InvalidArgument);
    }
}
