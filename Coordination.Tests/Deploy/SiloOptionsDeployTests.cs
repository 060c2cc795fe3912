using Coordination.Silo;

namespace Coordination.Tests.Deploy;

/// <summary>The two settings a StatefulSet relies on: ids from pod names, members by DNS name.</summary>
public class SiloOptionsDeployTests
{
    [Theory]
    [InlineData("coordination-0", 1UL)]
    [InlineData("coordination-4", 5UL)]
    [InlineData("coord-east-12.coordination-peers.prod.svc.cluster.local", 13UL)]
    public void The_node_id_is_the_pod_ordinal_plus_one(string hostName, ulong expected)
    {
        var options = new SiloOptions { NodeId = 7, NodeIdFromHostname = true }.ApplyHostname(hostName);
        Assert.Equal(expected, options.NodeId);
    }

    [Fact]
    public void Without_the_option_the_host_name_is_ignored()
    {
        Assert.Equal(7UL, new SiloOptions { NodeId = 7 }.ApplyHostname("coordination-0").NodeId);
        Assert.Equal(7UL, new SiloOptions { NodeId = 7 }.ApplyHostname("laptop").NodeId);
    }

    [Theory]
    [InlineData("laptop")]
    [InlineData("coordination-")]
    [InlineData("coordination-x")]
    [InlineData("coordination-18446744073709551615")]
    public void A_host_name_without_an_ordinal_is_a_clear_error(string hostName)
    {
        var error = Assert.Throws<ArgumentException>(() => new SiloOptions { NodeIdFromHostname = true }.ApplyHostname(hostName));
        Assert.Contains("NodeIdFromHostname", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Members_may_be_named_by_dns()
    {
        var options = new SiloOptions
        {
            NodeId = 2,
            Members = "1=coordination-0.coordination-peers.prod.svc:5080:5090,2=coordination-1.coordination-peers.prod.svc:5080:5090,3=coordination-2.coordination-peers.prod.svc:5080:5090",
        };
        options.Validate();
        var members = options.ParseMembers();
        Assert.Equal(3, members.Count);
        Assert.Equal("http://coordination-1.coordination-peers.prod.svc:5080", members[1].ClientUrl);
        Assert.Equal("coordination-2.coordination-peers.prod.svc:5090", members[2].PeerAddress);
    }

    [Fact]
    public void A_member_may_name_a_fourth_port_for_http2()
    {
        var members = new SiloOptions { Members = "1=127.0.0.1:5081:6081:7081,2=127.0.0.1:5082:6082" }.ParseMembers();

        Assert.Equal(new SiloAddress(1, "http://127.0.0.1:5081", "127.0.0.1:6081", "http://127.0.0.1:7081"), members[0]);
        Assert.Null(members[1].Http2Url);
    }

    [Theory]
    [InlineData("1=h:5081:6081:5081")]
    [InlineData("1=h:5081:6081:6081")]
    [InlineData("1=h:5081:6081:x")]
    [InlineData("1=h:5081:6081:70000")]
    [InlineData("1=h:5081:6081:7081:8081")]
    [InlineData("1=h:5081")]
    public void A_bad_member_port_is_a_clear_error(string members)
    {
        var error = Assert.Throws<ArgumentException>(() => new SiloOptions { Members = members }.ParseMembers());
        Assert.Contains("id=host:clientPort:peerPort[:http2Port]", error.Message, StringComparison.Ordinal);
    }
}
