#!/usr/bin/perl
# Writes the small MaxMind database the geo tests read (Debian: libmaxmind-db-writer-perl).
# Usage: make_test_mmdb.pl OUT.mmdb
#   81.2.69.0/24      City record: Dublin (53.35, -6.26), IE, EU
#   2001:db8:1::/48   City record: Ashburn (38.95, -77.45), US, NA
#   198.51.100.0/24   Country record only: DE, EU (no coordinates)
#   203.0.113.0/24    continent only: AS
#   127.0.0.0/8       City record: Dublin (loopback, for the integration test)
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my $out = shift or die "usage: $0 OUT.mmdb\n";
my %types = (
    location  => 'map',
    latitude  => 'double',
    longitude => 'double',
    country   => 'map',
    continent => 'map',
    iso_code  => 'utf8_string',
    code      => 'utf8_string',
);
my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version               => 6,
    record_size              => 24,
    database_type            => 'Switchyard-Test-City',
    languages                => ['en'],
    description              => { en => 'Switchyard test database' },
    map_key_type_callback    => sub { $types{ $_[0] } },
    remove_reserved_networks => 0,
    alias_ipv6_to_ipv4       => 1,
);
my %dublin = (
    location  => { latitude => 53.35, longitude => -6.26 },
    country   => { iso_code => 'IE' },
    continent => { code     => 'EU' },
);
$tree->insert_network('81.2.69.0/24', \%dublin);
$tree->insert_network('127.0.0.0/8', \%dublin);
$tree->insert_network('2001:db8:1::/48', {
    location  => { latitude => 38.95, longitude => -77.45 },
    country   => { iso_code => 'US' },
    continent => { code     => 'NA' },
});
$tree->insert_network('198.51.100.0/24', {
    country   => { iso_code => 'DE' },
    continent => { code     => 'EU' },
});
$tree->insert_network('203.0.113.0/24', { continent => { code => 'AS' } });
open my $fh, '>:raw', $out or die "cannot write $out: $!\n";
$tree->write_tree($fh);
close $fh or die "cannot write $out: $!\n";
